"""Prove that a hold survives faults: each scenario holds 1,000 plans against the real stack, breaking a part.

    .venv/bin/python -m bench.chaos [--plans 1000] [--plans-per-job 10] [--scenarios kill,...] [--verbose]

The stack is the product's as `make run` starts it (bench/production.py): gunicorn (2 workers,
production settings, DEBUG off) for the operator's click, an embedded Redis keeping an append-only
file (so that a restarted Redis still has its queues, as a production Redis with `appendonly yes`
does), one Celery worker (its thread pool, both queues), beat with the sync at its default period
(3 s) and the ESA simulator, on a throwaway SQLite database. Each scenario starts from a fresh
simulator, database and Redis with the estate of `bench.incident` (100 jobs of 10 plans on
example.com, one plan in ten waiting), fills the mirror with one sync, then an operator logs in,
loads the hold's confirmation and clicks *Hold* over HTTP, and the proof polls the database until
every plan of the hold is settled; the sync runs all along. ESA allows 50 calls a second
(`--max-qps` below that is the tighter limit) and a hold makes at least one call per plan: N / QPS
is the limit. Each scenario prints the sync's share of the ESA calls from the click until the hold
settled and the sync's cycles meanwhile (none may overlap another; bench/production.py).

Scenarios (the fault comes when half the plans are settled, unless said otherwise):

- kill: the worker is SIGKILLed and started again at once;
- redis-restart: Redis is stopped, stays down `--redis-outage` seconds (5) and is started again;
- redis-at-click: Redis is down when the operator clicks, and comes back `--redis-outage` later;
- esa-faults: the simulator answers 5% of calls 503 and allows 40 calls a second while the
  product's budget is 50 (so some calls are throttled);
- esa-outage: the simulator is stopped for `--esa-outage` seconds (60) and started again.

Goals, each scenario: no operator action lost (every plan held per ESA, or its step failed with the
error's code recorded, which the incident page shows with *Retry the failed*); every Celery worker
still running afterwards (they wait for Redis and ESA to return) and none logged an unrecoverable
error; click → every plan settled within 1.5x the limit plus the outage; no two sync cycles at
once. Exit status: 1 when a goal is missed, 2 when the harness could not run; the processes' logs
stay in `var/chaos/<scenario>/`; the machine and its load average are printed with the figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import redis

from bench.incident import (
    PLANS_PER_JOB,
    QPS,
    HarnessError,
    _configure,
    _esa,
    _estate_create,
    _run_environment,
    _stack,
    _statuses,
    _workers_alive,
)
from bench.production import (
    WORKER,
    SyncCycles,
    SyncShare,
    click_hold,
    esa_calls_by_caller,
    hold_listing_request_ids,
    processes_start,
    sync_cycles_read,
    sync_rows,
    sync_share,
)
from bench.report import goals_verdict, load_line, machine_line
from bench.stack import Stack
from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import Stopping
from prefetch_ui.esa import EsaError
from prefetch_ui.esa_sim import DEMO_SITE_ID

if TYPE_CHECKING:
    from django.contrib.auth.models import User

REPO_DIR = Path(__file__).resolve().parent.parent
GOAL_FACTOR = 1.5  # click → settled ≤ 1.5x the limit + the outage
SETTLE_TIMEOUT = 300.0  # seconds after the click: past this the run is reported as not finished


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    fault: str  # what breaks: kill | redis-restart | redis-at-click | esa-outage | none
    sim_qps: int = QPS
    fault_rate: float = 0.0


SCENARIOS = {
    "kill": Scenario("kill", fault="kill"),
    "redis-restart": Scenario("redis-restart", fault="redis-restart"),
    "redis-at-click": Scenario("redis-at-click", fault="redis-at-click"),
    "esa-faults": Scenario("esa-faults", fault="none", sim_qps=40, fault_rate=0.05),
    "esa-outage": Scenario("esa-outage", fault="esa-outage"),
}


@dataclass(slots=True)
class Result:
    """What one scenario measured; times are seconds."""

    scenario: Scenario
    limit: float
    plans: int = 0
    click_status: int = 0
    click_ms: float = 0.0
    settled_after: float | None = None  # click → every step settled
    outage: float = 0.0  # how long the broken part was away
    fault_note: str = ""
    steps: Counter[str] = field(default_factory=Counter)  # done, failed <code>
    failed_without_code: int = 0
    still_able: list[str] = field(default_factory=list)  # per ESA, not covered by a failed step
    worker_exits: list[str] = field(default_factory=list)
    unrecoverable: list[str] = field(default_factory=list)
    workers_beating: bool = False
    share: SyncShare | None = None  # the sync's ESA calls from the click until settled
    cycles: SyncCycles = field(default_factory=SyncCycles)

    @property
    def goal(self) -> float:
        return GOAL_FACTOR * self.limit + self.outage

    def misses(self) -> list[str]:
        name = self.scenario.name
        missed = []
        if self.click_status != 302:
            missed.append(f"{name}: the click answered {self.click_status}, not a redirect")
        if self.settled_after is None:
            missed.append(f"{name}: the hold did not settle within {SETTLE_TIMEOUT:.0f} s of the click")
        elif self.settled_after > self.goal:
            missed.append(f"{name}: click → settled {self.settled_after:.1f} s > goal {self.goal:.1f} s")
        if self.still_able:
            missed.append(
                f"{name}: {len(self.still_able)} plan(s) neither held nor failed with a code (lost)"
            )
        if self.failed_without_code:
            missed.append(f"{name}: {self.failed_without_code} failed step(s) without an error code")
        if self.worker_exits or self.unrecoverable:
            missed.append(
                f"{name}: worker exits {self.worker_exits or '-'}, unrecoverable {self.unrecoverable or '-'}"
            )
        if not self.workers_beating:
            missed.append(f"{name}: the workers' heartbeats did not come back")
        if self.cycles.overlapping:
            missed.append(f"{name}: {self.cycles.overlapping} sync cycle(s) overlapping another")
        return missed


class _Fault:
    """A part of the stack taken away and brought back; the outage is measured, not assumed."""

    def __init__(self, stop: Callable[[], None], start: Callable[[], None], seconds: float) -> None:
        self._stop, self._start, self.seconds = stop, start, seconds
        self.down_at: float | None = None
        self.up_at: float | None = None

    def begin(self) -> None:
        self.down_at = time.time()
        self._stop()

    def due(self) -> bool:
        return self.down_at is not None and self.up_at is None and time.time() - self.down_at >= self.seconds

    def end(self) -> None:
        self._start()
        self.up_at = time.time()

    @property
    def outage(self) -> float:
        if self.down_at is None or self.up_at is None:
            return 0.0
        return self.up_at - self.down_at


def _step_counts(incident_id: int) -> tuple[int, int]:
    """(settled, total) steps of the incident."""
    from prefetch_ui.incidents.models import UNSETTLED_STEP_STATES, HeldPlan

    steps = HeldPlan.objects.filter(incident_id=incident_id)
    total = steps.count()
    return total - steps.filter(state__in=UNSETTLED_STEP_STATES).count(), total


def _worker_exits(stack: Stack) -> list[str]:
    return [
        f"{name} exited with {child.exit_code()}"
        for name, child in stack.workers.items()
        if child.exit_code() is not None
    ]


def run_once(
    scenario: Scenario,
    *,
    plans: int,
    per_job: int,
    user: User,
    run_dir: Path,
    redis_port: int,
    redis_outage: float,
    esa_outage: float,
    echo: bool,
) -> Result:
    from django.core.management import call_command

    from prefetch_ui.incidents.models import HeldPlan, Incident, StepState
    from prefetch_ui.prefetch.services.sync import esa_sync

    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    result = Result(scenario=scenario, limit=plans / min(QPS, scenario.sim_qps))
    _run_environment(qps=QPS)
    redis_dir = run_dir / "redis"
    log_path = run_dir / "processes.log"
    with _stack(log_path, echo=echo) as stack:
        stack.start_redis(redis_port, redis_dir, appendonly=True)
        sim_port = free_port()
        sim_args = ["--max-qps", str(scenario.sim_qps)]
        if scenario.fault_rate:
            sim_args += ["--fault-rate", str(scenario.fault_rate), "--seed", "1"]
        sim_state = run_dir / "esa-sim.sqlite3"
        endpoint = stack.start_simulator(sim_state, *sim_args, port=sim_port)
        os.environ["ESA_ENDPOINT"] = endpoint
        with _esa(endpoint) as esa:
            job_ids = _estate_create(esa, plans, per_job)
            _statuses(esa, job_ids)  # the simulator moves plans on when they are read
            report = esa_sync(client=esa)
            if report.site_errors:
                raise HarnessError(f"the sync failed on {report.site_errors} site(s)")

        web = processes_start(stack, run_dir, web_port=free_port())
        incident_id = 0  # set by the click, before any fault but redis-at-click's
        deaths: dict[str, list[float]] = {}

        def worker_kill() -> None:
            stack.kill_worker(WORKER)
            deaths.setdefault(WORKER, []).append(time.time())

        def worker_start() -> None:
            stack.start_worker(WORKER)

        def redis_start() -> None:
            stack.start_redis(redis_port, redis_dir, appendonly=True)

        def simulator_start() -> None:
            stack.start_simulator(sim_state, *sim_args, port=sim_port)

        faults = {
            "kill": lambda: _Fault(worker_kill, worker_start, 0),
            "redis-restart": lambda: _Fault(lambda: stack.stop_child("redis"), redis_start, redis_outage),
            "redis-at-click": lambda: _Fault(lambda: stack.stop_child("redis"), redis_start, redis_outage),
            "esa-outage": lambda: _Fault(lambda: stack.stop_child("esa-sim"), simulator_start, esa_outage),
        }
        fault = faults[scenario.fault]() if scenario.fault in faults else None

        metrics_before = esa_calls_by_caller(web)
        if scenario.fault == "redis-at-click" and fault is not None:
            fault.begin()
        click_at = time.time()
        result.click_status, result.click_ms = click_hold(
            web, user, site_id=DEMO_SITE_ID, reason="bench-chaos"
        )
        incident_id = Incident.objects.latest("pk").pk

        while time.time() - click_at < SETTLE_TIMEOUT:
            settled, total = _step_counts(incident_id)
            planned = Incident.objects.filter(pk=incident_id, planned_at__isnull=False).exists()
            if fault is not None and fault.down_at is None and planned and total and settled * 2 >= total:
                after = time.time() - click_at
                result.fault_note = (
                    f"{scenario.fault} {after:.1f} s after the click, {settled}/{total} settled"
                )
                fault.begin()
            if fault is not None and fault.due():
                fault.end()
            if planned and total and settled == total and (fault is None or fault.up_at is not None):
                result.settled_after = time.time() - click_at
                break
            result.worker_exits = _worker_exits(stack)
            if result.worker_exits:
                break  # what `make run` does when a worker exits: the product is down
            time.sleep(0.1)
        settled_at = time.time()
        if fault is not None and fault.down_at is not None and fault.up_at is None:
            fault.end()
        result.outage = fault.outage if fault is not None else 0.0
        if scenario.fault == "redis-at-click" and fault is not None:
            result.fault_note = f"Redis down {fault.outage:.1f} s from just before the click"

        # The workers must still be there, and beating in Redis again.
        result.worker_exits = _worker_exits(stack)
        try:
            stack.wait_for("the worker's heartbeat", lambda: _workers_alive(1), timeout=30)
            result.workers_beating = True
        except Stopping:
            result.workers_beating = False

        steps = HeldPlan.objects.filter(incident_id=incident_id)
        result.plans = steps.count()
        failed = steps.filter(state=StepState.FAILED)
        result.steps = Counter(
            "done" if state == StepState.DONE else f"{state} {code or '(no code)'}"
            for state, code in steps.values_list("state", "error_code")
        )
        result.failed_without_code = failed.filter(error_code="").count()
        failed_ids = set(failed.values_list("plan_esa_id", flat=True))
        # Counted before the check below, which lists every job again.
        calls = httpx.get(f"{endpoint}/_sim/calls", timeout=30).json()["Calls"]
        result.share = sync_share(
            calls=calls,
            since=click_at,
            until=settled_at,
            not_sync=hold_listing_request_ids([incident_id]),
            metrics_before=metrics_before,
            metrics_after=esa_calls_by_caller(web),
        )
        with _esa(endpoint) as esa:
            _, able = _statuses(esa, job_ids)
        result.still_able = [line for line in able if line.split(" ", 1)[0] not in failed_ids]
    result.cycles = sync_cycles_read(log_path, since=click_at, until=settled_at, deaths=deaths)

    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    # The worker's last line when it gives up (its traceback follows, on the same line in JSON logs).
    result.unrecoverable = [line for line in log_text.splitlines() if "Unrecoverable error" in line]
    call_command("flush", interactive=False, verbosity=0)
    return result


def _report(results: list[Result]) -> None:
    rows: list[tuple[str, list[str]]] = [
        ("limit (plans / QPS)", [f"{r.limit:.1f} s" for r in results]),
        ("the click", [f"{r.click_status} in {r.click_ms:.0f} ms" for r in results]),
        ("outage", [f"{r.outage:.1f} s" for r in results]),
        (
            "click → settled",
            [
                "not settled"
                if r.settled_after is None
                else f"{r.settled_after:.1f} s = {r.settled_after / r.limit:.2f}x"
                for r in results
            ],
        ),
        ("  goal 1.5x limit + outage", [f"≤ {r.goal:.1f} s" for r in results]),
        ("steps", [", ".join(f"{n} {k}" for k, n in r.steps.most_common()) for r in results]),
        ("lost (able, not failed)", [f"{len(r.still_able)} (must be 0)" for r in results]),
        (
            "workers running after",
            ["yes" if not r.worker_exits else "; ".join(r.worker_exits) for r in results],
        ),
        ("unrecoverable errors", [str(len(r.unrecoverable)) for r in results]),
        ("heartbeats back", ["yes" if r.workers_beating else "NO" for r in results]),
        *sync_rows([(r.share, r.cycles) for r in results], cycles_label="sync cycles until settled"),
    ]
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(r.scenario.name), *(len(cells[i]) for _, cells in rows)) for i, r in enumerate(results)]
    print(
        f"{'':<{label_width}}  "
        + "  ".join(f"{r.scenario.name:<{w}}" for r, w in zip(results, widths, strict=True))
    )
    for label, cells in rows:
        print(
            f"{label:<{label_width}}  " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True))
        )
    for r in results:
        if r.fault_note:
            print(f"{r.scenario.name}: {r.fault_note}")
        if r.share is not None:
            print(f"{r.scenario.name}: {r.share.line()}; {r.cycles.line()}")
        for line in r.unrecoverable[:3]:
            print(f"{r.scenario.name}: {line[:240]}")
        for line in r.still_able[:5]:
            print(f"{r.scenario.name}: lost: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=1000, help="plans to hold (1000)")
    parser.add_argument(
        "--plans-per-job", type=int, default=PLANS_PER_JOB, help=f"plans per job ({PLANS_PER_JOB})"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, of {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--redis-outage", type=float, default=5.0, help="seconds Redis stays down (5)")
    parser.add_argument(
        "--esa-outage", type=float, default=60.0, help="seconds the simulator stays down (60)"
    )
    parser.add_argument("--logs", type=Path, default=REPO_DIR / "var" / "chaos", help="processes' logs")
    parser.add_argument("--verbose", action="store_true", help="echo the processes' output")
    options = parser.parse_args(argv)
    names = [name.strip() for name in options.scenarios.split(",") if name.strip()]
    if unknown := [name for name in names if name not in SCENARIOS]:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    if options.plans < 1 or not 1 <= options.plans_per_job <= 100:
        parser.error("--plans must be positive and --plans-per-job between 1 and 100")

    results: list[Result] = []
    redis_port = free_port()
    with tempfile.TemporaryDirectory(prefix="prefetch-chaos-") as work:
        _configure(Path(work), f"redis://127.0.0.1:{redis_port}/0")
        import django

        django.setup()
        logging.getLogger("prefetch_ui.esa").setLevel(logging.WARNING)
        logging.getLogger("axes").setLevel(logging.WARNING)  # a line per login, between the figures
        from django.contrib.auth.models import User
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"{machine_line()}; logs in {options.logs}/<scenario>/")
        for name in names:
            user = User.objects.create_superuser("chaos", password=None)
            try:
                result = run_once(
                    SCENARIOS[name],
                    plans=options.plans,
                    per_job=options.plans_per_job,
                    user=user,
                    run_dir=options.logs / name,
                    redis_port=redis_port,
                    redis_outage=options.redis_outage,
                    esa_outage=options.esa_outage,
                    echo=options.verbose,
                )
            except (HarnessError, Stopping, EsaError, httpx.HTTPError, redis.RedisError) as error:
                print(f"error: {name}: {error} (see {options.logs / name}/processes.log)", file=sys.stderr)
                return 2
            settled = "not settled" if result.settled_after is None else f"{result.settled_after:.1f} s"
            print(
                f"{name}: {settled} (goal ≤ {result.goal:.1f} s), {len(result.misses())} miss(es)", flush=True
            )
            results.append(result)

    _report(results)
    missed = [miss for result in results for miss in result.misses()]
    print(load_line())
    print(f"chaos: {len(results)} scenario(s), {goals_verdict(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
