"""Alert deliveries under load: 50 a second for 30 s, repeating a few fingerprints, against the stack.

    .venv/bin/python -m bench.alerts [--rate 50] [--seconds 30] [--verbose]

The stack is the product's as `make run` starts it (bench/production.py): gunicorn (2 workers,
production settings), Redis, one Celery worker, beat and the ESA simulator, on a throwaway SQLite
database whose mirror one sync filled. An Alertmanager receiver (a bearer token) has a rule that
holds the site an alert's `site` label names, among the simulator's seeded sites; one fingerprint per
site. Senders post Alertmanager's webhook payload (version 4) on a fixed schedule of `--rate` a
second, each delivery one of the fingerprints at random, as Alertmanager repeats a firing alert.

Goals: every delivery answered, none with a 5xx (nor any other refusal); exactly one incident per
fingerprint that fired, each with one holder (the alert), however often it fired. Exit status: 1 when
a goal is missed, 2 when the harness could not run. The processes' logs stay in `var/alerts/`; the
machine and its load average are printed with the figures (the rate reached, the answers' times).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.incident import HarnessError, _configure, _esa, _run_environment, _stack
from bench.production import processes_start
from bench.report import goals_verdict, load_line, machine_line
from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import Stopping

REPO_DIR = Path(__file__).resolve().parent.parent
PAYLOAD = REPO_DIR / "tests" / "alerts" / "payloads" / "alertmanager_firing.json"
SENDERS = 16  # requests in flight at most: the schedule's, not a limit on the server


@dataclass(slots=True)
class Result:
    sent: int = 0
    sending: float = 0.0  # the schedule: first to last delivery sent
    seconds: float = 0.0  # first sent to last answered
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # transport errors
    latencies: list[float] = field(default_factory=list)  # ms
    fingerprints: dict[str, int] = field(default_factory=dict)  # fired: deliveries of each
    incidents: dict[str, list[int]] = field(default_factory=dict)  # fingerprint -> its incidents
    holders: dict[int, int] = field(default_factory=dict)  # incident -> holders

    def misses(self) -> list[str]:
        missed = []
        answered = sum(self.statuses.values())
        if answered != self.sent or self.failures:
            missed.append(f"{self.sent - answered} delivery(ies) unanswered: {self.failures[:3]}")
        if server_errors := sum(n for status, n in self.statuses.items() if status >= 500):
            missed.append(f"{server_errors} answer(s) 5xx")
        if refused := sum(n for status, n in self.statuses.items() if 400 <= status < 500):
            missed.append(f"{refused} delivery(ies) refused (4xx)")
        for fingerprint in self.fingerprints:
            incidents = self.incidents.get(fingerprint, [])
            if len(incidents) != 1:
                missed.append(f"fingerprint {fingerprint}: {len(incidents)} incident(s), not one")
        if extra := [pk for pk, holders in self.holders.items() if holders != 1]:
            missed.append(f"incident(s) {extra} with more than one holder")
        return missed


def _deliveries(
    url: str, token: str, sites: list[str], *, rate: float, seconds: float, result: Result
) -> None:
    """Post on a fixed schedule, `rate` a second for `seconds`, from a pool of senders."""
    template = json.loads(PAYLOAD.read_text())
    chooser = random.Random(1)  # noqa: S311  # which fingerprint repeats, not a secret
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(client: httpx.Client, index: int) -> None:
        document = json.loads(json.dumps(template))
        alert = document["alerts"][0]
        alert["fingerprint"], alert["labels"]["site"] = f"bench-{index}", sites[index]
        started = time.perf_counter()
        try:
            response = client.post(url, content=json.dumps(document).encode(), headers=headers)
        except httpx.HTTPError as error:
            with lock:
                result.failures.append(repr(error))
            return
        with lock:
            result.statuses[response.status_code] += 1
            result.latencies.append((time.perf_counter() - started) * 1000)

    total = int(rate * seconds)
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(max_workers=SENDERS) as pool:
        begin = time.perf_counter()
        for number in range(total):
            due = begin + number / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            index = chooser.randrange(len(sites))
            result.fingerprints[f"bench-{index}"] = result.fingerprints.get(f"bench-{index}", 0) + 1
            pool.submit(send, client, index)
            result.sent += 1
        result.sending = time.perf_counter() - begin
    result.seconds = time.perf_counter() - begin


def run(*, rate: float, seconds: float, run_dir: Path, redis_port: int, echo: bool) -> Result:
    from django.contrib.auth.models import User

    from prefetch_ui.alerts.models import AlertHold, ScopeKind
    from prefetch_ui.alerts.services.receivers import receiver_create, rule_add
    from prefetch_ui.incidents.models import IncidentHolder
    from prefetch_ui.prefetch.models import Site
    from prefetch_ui.prefetch.services.sync import esa_sync

    run_dir.mkdir(parents=True, exist_ok=True)
    _run_environment(qps=50)
    result = Result()
    with _stack(run_dir / "processes.log", echo=echo) as stack:
        stack.start_redis(redis_port, run_dir / "redis", appendonly=False)
        endpoint = stack.start_simulator(run_dir / "esa-sim.sqlite3", port=free_port())
        os.environ["ESA_ENDPOINT"] = endpoint
        with _esa(endpoint) as esa:
            report = esa_sync(client=esa)
        if report.site_errors:
            raise HarnessError(f"the sync failed on {report.site_errors} site(s)")
        sites = list(Site.objects.order_by("esa_id"))
        web = processes_start(stack, run_dir, web_port=free_port())
        user = User.objects.create_superuser("bench-alerts", password=None)
        credential = receiver_create(user=user, name="bench alertmanager", kind="alertmanager")
        rule_add(
            receiver=credential.receiver,
            alert_name="",
            labels="",
            scope=ScopeKind.LABEL,
            site_label="site",
            allowed_sites=sites,
        )
        url = f"{web}/hooks/{credential.receiver.slug}/"
        _deliveries(
            url, credential.token, [site.name for site in sites], rate=rate, seconds=seconds, result=result
        )
        for fingerprint in result.fingerprints:
            holds = AlertHold.objects.filter(fingerprint=fingerprint)
            result.incidents[fingerprint] = sorted(
                {pk for pk in holds.values_list("incident_id", flat=True) if pk}
            )
        for incidents in result.incidents.values():
            for pk in incidents:
                result.holders[pk] = IncidentHolder.objects.filter(incident_id=pk).count()
    return result


def _report(result: Result, rate: float) -> None:
    latencies = sorted(result.latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
    median = statistics.median(latencies) if latencies else 0.0
    sending = result.sent / result.sending if result.sending else 0.0
    answered = sum(result.statuses.values()) / result.seconds if result.seconds else 0.0
    print(
        f"deliveries sent      {result.sent} in {result.sending:.1f} s = {sending:.1f}/s (asked {rate:.0f}/s)"
    )
    print(f"answered             all by {result.seconds:.1f} s = {answered:.1f}/s")
    print(f"answers              {dict(sorted(result.statuses.items()))}, errors {len(result.failures)}")
    print(
        f"answer time          median {median:.0f} ms, p95 {p95:.0f} ms, "
        f"max {max(latencies, default=0):.0f} ms"
    )
    for fingerprint, count in sorted(result.fingerprints.items()):
        print(f"  {fingerprint}: {count} deliveries, incident(s) {result.incidents.get(fingerprint, [])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="deliveries a second (50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long (30)")
    parser.add_argument("--logs", type=Path, default=REPO_DIR / "var" / "alerts", help="processes' logs")
    parser.add_argument("--verbose", action="store_true", help="echo the processes' output")
    options = parser.parse_args(argv)
    if options.rate <= 0 or options.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    redis_port = free_port()
    with tempfile.TemporaryDirectory(prefix="prefetch-alerts-") as work:
        _configure(Path(work), f"redis://127.0.0.1:{redis_port}/0")
        import django

        django.setup()
        logging.getLogger("prefetch_ui.esa").setLevel(logging.WARNING)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"{machine_line()}; logs in {options.logs}/")
        try:
            result = run(
                rate=options.rate,
                seconds=options.seconds,
                run_dir=options.logs,
                redis_port=redis_port,
                echo=options.verbose,
            )
        except (HarnessError, Stopping, httpx.HTTPError) as error:
            print(f"error: {error} (see {options.logs}/processes.log)", file=sys.stderr)
            return 2
    _report(result, options.rate)
    missed = result.misses()
    print(load_line())
    print(f"alerts: {goals_verdict(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
