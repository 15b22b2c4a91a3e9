"""Poll the dashboard at 50 requests a second on gunicorn while the mirror is written: p50/p95/p99, errors.

    .venv/bin/python -m bench.load [--rate 50] [--seconds 60] [--targets job,site,overview]

gunicorn serves the project's WSGI app with 2 worker processes and the production settings (DEBUG
off; plain HTTP on loopback, so no HTTPS redirect) over a throwaway SQLite database holding the
benchmark's estate (`bench/data.py`: a site of 10,000 jobs and 20,000 plans, a job of 1,000 plans).
Meanwhile a stand-in for the sync, a process of its own, writes the mirror the way the sync does,
every `PREFETCH_SYNC_PERIOD` seconds (3): one transaction that upserts the 1,000 plans of the polled
job and a page of 500 jobs of the big site (`bulk_create(update_conflicts=True)`, the statement of
`prefetch_ui.prefetch.services.sync`). The real sync cannot serve here: the simulator does not hold
this estate, and a sync removes from the mirror what ESA does not list.

For each target in turn, an asynchronous client (httpx, loopback only) sends `--rate` requests a
second for `--seconds` seconds on a fixed schedule, whatever the answers (so a slow server shows as
queueing, not as fewer requests), as htmx polls them: a logged-in session, `HX-Request: true`,
`?poll=1`. Targets: the job poll fragment of 1,000 plans, the site page's jobs table of 10,000 jobs,
the overview's fragment. Each request may take 10 s in all; every answer but 200 or 286 (stop polling),
and every timeout or connection error, is an error, as is a poll not sent because 200 are
already waiting (the client's bound). Goals: p95 ≤ 50 ms and no error, per target.
Exit status: 1 when a goal is missed, 2 when the harness could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.stack import Stack, production_settings
from prefetch_ui.dev.embedded_redis import redis_server
from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import Stopping

REPO_DIR = Path(__file__).resolve().parent.parent
GOAL_P95_MS = 50.0
REQUEST_TIMEOUT = 10.0
SYNC_PERIOD = 3.0
JOB_PAGE = 500  # the sync reads a site's jobs 500 to a page
HTMX = {"HX-Request": "true"}
OK_STATUSES = frozenset({200, 286})
# At most this many polls waiting for an answer; beyond it a poll counts as an error without being
# sent. It bounds the client too: httpx's pool slows down with every request queued in it, and a
# generator that falls behind its schedule would offer less load than it says.
MAX_IN_FLIGHT = 200


@dataclass(slots=True)
class Target:
    """One URL polled at the rate, and what came back."""

    name: str
    path: str
    must_contain: str
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    sent: int = 0
    late_ms: float = 0.0  # how far behind its schedule the generator sent its latest request, at worst
    alone_ms: float = 0.0  # one request with nothing else asked of gunicorn (the last warm-up's)

    def quantile_ms(self, q: int) -> float | None:
        if len(self.latencies) < 2:
            return None
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000

    def misses(self) -> list[str]:
        missed = []
        p95 = self.quantile_ms(95)
        if p95 is None or p95 > GOAL_P95_MS:
            shown = "-" if p95 is None else f"{p95:.0f} ms"
            missed.append(f"{self.name}: p95 {shown} > {GOAL_P95_MS:.0f} ms")
        if self.errors:
            missed.append(f"{self.name}: {sum(self.errors.values())} error(s) of {self.sent}")
        return missed


# -- the stand-in for the sync (a process of its own: `--write-mirror`) -------------------------------


def write_mirror(period: float, job_esa_id: str, site_esa_id: int) -> None:
    """Every `period` seconds, upsert the polled job's plans and a page of the big site's jobs."""
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from prefetch_ui.prefetch.models import Job, Plan
    from prefetch_ui.prefetch.services.sync import JOB_FIELDS, PLAN_FIELDS

    plan_fields = [name for name in PLAN_FIELDS if name != "esa_id"]
    job_fields = [name for name in JOB_FIELDS if name != "esa_id"]
    cycle = 0
    while True:
        started = time.monotonic()
        now = timezone.now()
        plans = list(Plan.objects.filter(job__esa_id=job_esa_id))
        offset = (cycle * JOB_PAGE) % 10_000
        jobs = list(Job.objects.filter(site__esa_id=site_esa_id).order_by("pk")[offset : offset + JOB_PAGE])
        for plan in plans:
            plan.pk = None  # as the sync builds them: new rows, matched on esa_id
            plan.synced_at = now
        for job in jobs:
            job.pk = None
            job.synced_at = now
            if job.url_submitted < job.url_count:
                job.url_submitted += 1
        with transaction.atomic():
            Plan.objects.bulk_create(
                plans,
                update_conflicts=True,
                unique_fields=["esa_id"],
                update_fields=[*plan_fields, "job", "synced_at"],
                batch_size=500,
            )
            Job.objects.bulk_create(
                jobs,
                update_conflicts=True,
                unique_fields=["esa_id"],
                update_fields=[*job_fields, "site", "synced_at"],
                batch_size=500,
            )
        took = time.monotonic() - started
        print(f"mirror written: {len(plans)} plans, {len(jobs)} jobs in {took * 1000:.0f} ms", flush=True)
        cycle += 1
        time.sleep(max(0.0, period - took))


# -- the load ---------------------------------------------------------------------------------------


async def _poll(client: httpx.AsyncClient, target: Target) -> None:
    started = time.perf_counter()
    try:
        # httpx's timeout bounds each step (connect, each read); this bounds the whole request.
        async with asyncio.timeout(REQUEST_TIMEOUT):
            response = await client.get(target.path, params={"poll": "1"}, headers=HTMX)
    except (TimeoutError, httpx.TimeoutException):
        target.errors["timeout"] += 1
        return
    except httpx.HTTPError as error:
        target.errors[type(error).__name__] += 1
        return
    elapsed = time.perf_counter() - started
    target.statuses[response.status_code] += 1
    if response.status_code not in OK_STATUSES:
        target.errors[f"HTTP {response.status_code}"] += 1
    elif response.status_code == 200 and target.must_contain not in response.text:
        target.errors["unexpected answer"] += 1
    else:
        target.latencies.append(elapsed)


async def _load(web: str, cookies: dict[str, str], target: Target, *, rate: float, seconds: float) -> None:
    """`rate` requests a second for `seconds` seconds, on schedule; waits for the last answer."""
    count = int(rate * seconds)
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=50)
    async with httpx.AsyncClient(
        base_url=web, cookies=cookies, timeout=REQUEST_TIMEOUT, limits=limits
    ) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks: list[asyncio.Task[None]] = []
        for index in range(count):
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            target.late_ms = max(target.late_ms, (loop.time() - due) * 1000)
            target.sent += 1
            tasks = [task for task in tasks if not task.done()]
            if len(tasks) >= MAX_IN_FLIGHT:
                target.errors[f"not sent: {MAX_IN_FLIGHT} waiting"] += 1
                continue
            tasks.append(asyncio.create_task(_poll(client, target)))
        await asyncio.gather(*tasks)


def _report(targets: list[Target], *, rate: float, seconds: float) -> None:
    print(
        f"\n{rate:g} polls a second for {seconds:g} s per target; goals: p95 ≤ {GOAL_P95_MS:.0f} ms, 0 errors"
    )
    header = f"{'target':<34} {'sent':>6} {'ok/s':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  errors"
    print(header)
    for target in targets:
        cells = [target.quantile_ms(q) for q in (50, 95, 99)]
        shown = ["-" if cell is None else f"{cell:.0f} ms" for cell in cells]
        worst = f"{max(target.latencies) * 1000:.0f} ms" if target.latencies else "-"
        errors = ", ".join(f"{n} {kind}" for kind, n in target.errors.most_common()) or "0"
        answered = f"{len(target.latencies) / seconds:.1f}"
        figures = f"{target.sent:>6} {answered:>6} {shown[0]:>8} {shown[1]:>8} {shown[2]:>8} {worst:>8}"
        print(f"{target.name:<34} {figures}  {errors}")
    for target in targets:
        p95 = target.quantile_ms(95)
        ratio = "-" if p95 is None else f"{p95 / GOAL_P95_MS:.1f}x the goal"
        statuses = ", ".join(f"{n}x {status}" for status, n in sorted(target.statuses.items()))
        print(
            f"{target.name}: p95 = {ratio}; alone it takes {target.alone_ms:.0f} ms;"
            f" answers {statuses or 'none'};"
            f" the generator was at worst {target.late_ms:.0f} ms behind its schedule"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50, help="requests a second (50)")
    parser.add_argument("--seconds", type=float, default=60, help="per target (60)")
    parser.add_argument("--targets", default="job,site,overview", help="comma-separated (job,site,overview)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (2)")
    parser.add_argument("--logs", type=Path, default=REPO_DIR / "var" / "load", help="processes' logs")
    parser.add_argument("--verbose", action="store_true", help="echo the processes' output")
    # The stand-in for the sync runs as a child of this command: `--write-mirror JOB SITE`.
    parser.add_argument("--write-mirror", nargs=2, metavar=("JOB", "SITE"), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.write_mirror:
        write_mirror(SYNC_PERIOD, options.write_mirror[0], int(options.write_mirror[1]))
        return 0
    if options.rate <= 0 or options.seconds <= 0:
        parser.error("--rate and --seconds must be positive")

    options.logs.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="prefetch-load-") as work,
        redis_server(Path(work)) as redis_url,
        (options.logs / "processes.log").open("w", encoding="utf-8") as log,
    ):
        production_settings(Path(work), redis_url=redis_url)
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.test import Client

        from bench.data import bench_data_create

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        data = bench_data_create()
        print(
            f"estate: {data.big_site_jobs:,} jobs and {data.big_site_plans:,} plans on one site,"
            f" a job of {data.large_job_plans:,} plans ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        every = {
            "job": Target(
                f"job poll fragment, {data.large_job_plans:,} plans",
                f"/jobs/{data.large_job_esa_id}/",
                'id="job-live"',
            ),
            "site": Target(
                f"site jobs table, {data.big_site_jobs:,} jobs",
                f"/sites/{data.big_site_esa_id}/",
                'id="jobs-table"',
            ),
            "overview": Target("overview poll fragment", "/overview/", 'id="overview-live"'),
        }
        names = [name.strip() for name in options.targets.split(",") if name.strip()]
        if unknown := [name for name in names if name not in every]:
            parser.error(f"unknown target(s): {', '.join(unknown)}")
        targets = [every[name] for name in names]

        client = Client()
        client.force_login(data.user)
        cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
        stack = Stack(cwd=REPO_DIR, log=log, echo=options.verbose)
        try:
            stack.start(
                "sync",
                [
                    *(sys.executable, "-m", "bench.load"),
                    *("--write-mirror", data.large_job_esa_id, str(data.big_site_esa_id)),
                ],
            )
            load = os.getloadavg()
            print(
                f"Python {platform.python_version()}, Django {django.get_version()},"
                f" SQLite {sqlite3.sqlite_version}, gunicorn {options.web_workers} workers,"
                f" {os.cpu_count()} CPUs, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f},"
                f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                flush=True,
            )
            for target in targets:
                # A fresh gunicorn per target: an overloaded one would still be working through the
                # previous target's backlog (it answers requests whose client has given up).
                web = stack.start_web(free_port(), workers=options.web_workers)
                # Each page a few times, unhurried: it answers what the load expects, and gunicorn's
                # workers have their imports and the first queries behind them.
                for _ in range(3):
                    alone = time.perf_counter()
                    answer = httpx.get(
                        f"{web}{target.path}", params={"poll": "1"}, headers=HTMX, cookies=cookies, timeout=60
                    )
                if answer.status_code not in OK_STATUSES or (
                    answer.status_code == 200 and target.must_contain not in answer.text
                ):
                    raise Stopping(f"{target.name} answered {answer.status_code} without the fragment", 2)
                target.alone_ms = (time.perf_counter() - alone) * 1000
                asyncio.run(_load(web, cookies, target, rate=options.rate, seconds=options.seconds))
                stack.check()  # gunicorn and the stand-in must still be running
                stack.stop_child("web", grace=2)
                p95 = target.quantile_ms(95)
                print(
                    f"{target.name}: {target.sent} sent, p95 "
                    f"{'-' if p95 is None else f'{p95:.0f} ms'}, {sum(target.errors.values())} error(s)",
                    flush=True,
                )
        except (Stopping, httpx.HTTPError) as error:
            print(f"error: {error} (see {options.logs}/processes.log)", file=sys.stderr)
            return 2
        finally:
            stack.stop_children()
        cycles = (options.logs / "processes.log").read_text(encoding="utf-8").count("mirror written")
        print(f"the stand-in for the sync wrote the mirror {cycles} times (every {SYNC_PERIOD:g} s)")

    _report(targets, rate=options.rate, seconds=options.seconds)
    missed = [miss for target in targets for miss in target.misses()]
    for miss in missed:
        print(f"MISSED: {miss}")
    print(
        f"load: {len(targets)} target(s), "
        + ("all goals met" if not missed else f"{len(missed)} goal(s) missed")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
