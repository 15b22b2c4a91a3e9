"""Benchmark holds against the product as production runs it, as ratios to the physical limit N / Q.

    .venv/bin/python -m bench.incident [--plans 1000] [--large-plans 5000] [--plans-per-job 10]
                                       [--runs normal,faults,kill,large,resume] [--resume-minutes 10]
                                       [--verbose]

The stack is the product's as `make run` starts it (bench/production.py): the ESA simulator as a
process at `--max-qps Q`, an embedded Redis, one Celery worker (its thread pool, both queues), beat
with the sync at its default period (3 s) and gunicorn (2 workers, production settings), the
product's ESA budget at Q, on a throwaway SQLite database. A hold makes at least one call per plan,
so holding N plans cannot take less than N / Q seconds: that is the limit every duration is divided by.

Each run starts from a fresh simulator, database and Redis. A hold run creates jobs of
`--plans-per-job` (10) plans each on example.com (most start now and are running once listed, one in
ten starts in an hour and stays waiting), fills the mirror with one sync, starts the product, then
an operator loads the hold's confirmation and clicks *Hold* over HTTP, and the run waits for the
incident to be `held`; the sync runs all along. The simulator's call log dates every call; the
hold's last call minus the click, over the limit, is the figure. Each run also prints the sync's
share of the ESA calls from the click to the hold's last call and its cycles meanwhile, of which
none may overlap another (bench/production.py says how both are counted). Runs:

- normal: `--plans` (1,000) at Q = 50; goal ≤ 1.15x;
- faults: the simulator answers 5% of calls 503 (`--fault-rate 0.05`); goal ≤ 1.3x;
- kill: once half the plans are settled, the worker is SIGKILLed and started again at once; goal:
  the last call of the hold within 15 s of the restart;
- large: `--large-plans` (5,000) at Q = 200 (simulator and budget); goal ≤ 1.15x;
- normal-quiet (only when asked for; it runs "normal" too, so both figures print): "normal" with
  the sync kept out (`PREFETCH_SYNC_PERIOD=3600`), to isolate what the sync costs the hold; no goal;
- resume (issue 17): two seeded sites of the same shape, `--plans` / 2 plans each in jobs of 100
  (a batch of 10 URLs every 5 min; two in three running at the click, one in three starting 75-135 s
  after the estate is made, so their start passes during the hold), held at once (two incidents,
  through the hold's form); once every start has passed, example.com is resumed with the default
  ramp (its cap: its scheduled peak from before the hold, per the preview) and shop.example.net as
  it was, at the same moment, through the resume's form. The simulator's record of the batches it
  took, bucketed by whole wall-clock minute, over `--resume-minutes` (10) after the resume: goal,
  the ramped site's busiest minute ≤ its cap; the other's is printed for comparison. Both holds
  must finish with no plan still able to submit URLs, and no hold or resume step may fail.

In every run no plan may still be able to submit URLs once held (running, or waiting to start
within 30 days: parked plans start a year ahead), no plan's hold may fail, and no two sync cycles
may overlap. Exit status: 1 when a goal is missed, 2 when the harness could not run; the last line
sums up the figures, and the machine and its load average are printed with them.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import redis

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
from bench.stack import Stack, production_settings
from prefetch_ui.dev.embedded_redis import redis_server
from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import Stopping
from prefetch_ui.esa import EsaClient, EsaError, PlanSpec
from prefetch_ui.esa_sim import (
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    DEMO_SITE_ID,
    SEED_SITES,
    SubmittedBatch,
    submitted_batches,
)
from prefetch_ui.esa_sim.backend import Limits

if TYPE_CHECKING:
    from django.contrib.auth.models import User

REPO_DIR = Path(__file__).resolve().parent.parent
QPS = 50  # the simulator's --max-qps and the product's ESA call budget: the figure the goals are against
LARGE_QPS = 200  # the same for the large run
PLANS_PER_JOB = 10  # a hold run's jobs: 100 jobs of 10 plans for 1,000 plans
RESUME_PLANS_PER_JOB = 100  # the simulator's (and ESA's presumed) most plans per job
QUIET_SYNC_PERIOD = 3600  # normal-quiet's PREFETCH_SYNC_PERIOD: the sync never runs during the hold
WAITING_EVERY = 10  # one plan in ten starts in an hour and stays waiting
URLS_PER_JOB = 5_000  # a URL a minute per running plan: far more than a run submits
ABLE_WITHIN = timedelta(days=30)  # a waiting plan starting sooner could still submit URLs
HOLD_ACTIONS = frozenset(
    {"StopScheduledPreloadExecution", "UpdateScheduledPreloadExecution", "ListScheduledPreloadExecutions"}
)
HOLD_TIMEOUT = 120.0  # seconds after the click: past this, the run is reported as not finished
RESTART_GOAL = 15.0


@dataclass(frozen=True, slots=True)
class RunSpec:
    name: str
    fault_rate: float = 0.0
    kill: bool = False
    goal: float | None = None  # click → last hold call, over the limit
    large: bool = False  # --large-plans at LARGE_QPS instead of --plans at QPS
    # The sync kept out (PREFETCH_SYNC_PERIOD=3600): a comparison, printed beside "normal", no goal.
    quiet: bool = False

    @property
    def qps(self) -> int:
        return LARGE_QPS if self.large else QPS


RUNS = {
    "normal": RunSpec("normal", goal=1.15),
    "faults": RunSpec("faults", fault_rate=0.05, goal=1.3),
    "kill": RunSpec("kill", kill=True),
    "large": RunSpec("large", large=True, goal=1.15),
    # Not run by default; asking for it runs "normal" too, so that both figures print.
    "normal-quiet": RunSpec("normal-quiet", quiet=True),
}
# The resume of issue 17: two sites held, one resumed with the default ramp, one as it was.
RESUME_RUN = "resume"
DEFAULT_RUNS = ("normal", "faults", "kill", "large", RESUME_RUN)


class HarnessError(Exception):
    """The benchmark could not measure what it measures (not a missed goal)."""


@dataclass(slots=True)
class RunResult:
    """What one run measured; times are seconds, wall clock (the simulator's log uses the same)."""

    spec: RunSpec
    limit: float  # plans / QPS
    plans: int = 0  # steps the hold listed
    running: int = 0  # running when the click came, per ESA
    waiting: int = 0
    click_ms: float = 0.0
    held: bool = False
    click_to_first: float | None = None
    click_to_last: float | None = None
    restart_to_last: float | None = None
    kill_note: str = ""
    calls: Counter[str] = field(default_factory=Counter)  # the hold's calls by answer: ok, 400 code, 503
    longest_gap: float = 0.0
    share: SyncShare | None = None  # the sync's ESA calls from the click to the hold's last call
    cycles: SyncCycles = field(default_factory=SyncCycles)
    statuses_after: Counter[str] = field(default_factory=Counter)  # per ESA, once held
    still_able: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def ratio(self) -> float | None:
        return None if self.click_to_last is None else self.click_to_last / self.limit

    def misses(self) -> list[str]:
        """The goals this run missed, each said in a few words."""
        missed = []
        name = self.spec.name
        if not self.held:
            missed.append(f"{name}: the hold did not finish within {HOLD_TIMEOUT:.0f} s of the click")
        if self.plans != self.running + self.waiting:
            missed.append(f"{name}: the hold listed {self.plans} plans, not {self.running + self.waiting}")
        if self.spec.goal is not None and self.ratio is not None and self.ratio > self.spec.goal:
            missed.append(f"{name}: click → last hold call {self.ratio:.2f}x > {self.spec.goal}x")
        if self.spec.kill and (self.restart_to_last is None or self.restart_to_last > RESTART_GOAL):
            shown = "never" if self.restart_to_last is None else f"{self.restart_to_last:.1f} s"
            missed.append(f"{name}: restart → last hold call {shown} > {RESTART_GOAL:.0f} s")
        if self.still_able:
            missed.append(f"{name}: {len(self.still_able)} plan(s) still able to submit URLs")
        if self.failed:
            missed.append(f"{name}: {len(self.failed)} plan(s) whose hold failed")
        if self.cycles.overlapping:
            missed.append(f"{name}: {self.cycles.overlapping} sync cycle(s) overlapping another")
        return missed


# -- the environment ---------------------------------------------------------------------------


def _configure(work_dir: Path, redis_url: str) -> None:
    """Settings for this process and the children, before Django reads them: production's (the sync
    at its default period); the budget at QPS until a run says otherwise (`_run_environment`)."""
    os.environ.pop("PREFETCH_SYNC_PERIOD", None)
    production_settings(
        work_dir,
        redis_url=redis_url,
        log_level="INFO",
        PREFETCH_ESA_CALLS_PER_SECOND=str(QPS),
        ESA_ACCESS_KEY_ID=DEMO_ACCESS_KEY_ID,
        ESA_ACCESS_KEY_SECRET=DEMO_ACCESS_KEY_SECRET,
    )


def _run_environment(*, qps: int, quiet_sync: bool = False) -> None:
    """What the children of the next run read: the budget at `qps`; the sync at the product's
    default period unless `quiet_sync` keeps it out (a comparison that says so where it prints)."""
    os.environ["PREFETCH_ESA_CALLS_PER_SECOND"] = str(qps)
    if quiet_sync:
        os.environ["PREFETCH_SYNC_PERIOD"] = str(QUIET_SYNC_PERIOD)
    else:
        os.environ.pop("PREFETCH_SYNC_PERIOD", None)


def _esa(endpoint: str) -> EsaClient:
    """A client without the shared budget: the setup and the checks are not the product's calls."""
    return EsaClient(
        endpoint=endpoint, access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET
    )


@contextmanager
def _stack(log_path: Path, *, echo: bool) -> Iterator[Stack]:
    with log_path.open("w", encoding="utf-8") as log:
        stack = Stack(cwd=REPO_DIR, log=log, echo=echo)
        try:
            yield stack
        finally:
            stack.stop_children()


# -- one run -----------------------------------------------------------------------------------


def _estate_create(esa: EsaClient, plans: int, per_job: int = PLANS_PER_JOB) -> list[str]:
    """Jobs of `per_job` plans on example.com, one call to create each job and one for its plans."""
    now = datetime.now(UTC).replace(microsecond=0)
    job_ids = []
    for index in range((plans + per_job - 1) // per_job):
        count = min(per_job, plans - index * per_job)
        urls = [f"https://example.com/bench/{index}/asset-{number}.js" for number in range(URLS_PER_JOB)]
        job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name=f"bench {index}", urls=urls)
        specs = [
            PlanSpec(now + timedelta(hours=1), now + timedelta(hours=7), 60, 1)
            if number % WAITING_EVERY == WAITING_EVERY - 1
            else PlanSpec(now, now + timedelta(hours=6), 60, 1)
            for number in range(count)
        ]
        created = esa.create_scheduled_preload_executions(job.id, specs)
        if created.success_count != count:
            raise HarnessError(
                f"ESA created {created.success_count} of {count} plans: {created.failed_messages}"
            )
        job_ids.append(job.id)
    return job_ids


def _statuses(esa: EsaClient, job_ids: list[str]) -> tuple[Counter[str], list[str]]:
    """Every plan's status per ESA, and those that could still submit URLs (running, or starting soon)."""
    soon = datetime.now(UTC) + ABLE_WITHIN
    statuses: Counter[str] = Counter()
    able = []
    for job_id in job_ids:
        for plan in esa.list_scheduled_preload_executions(job_id).items:
            statuses[plan.status] += 1
            starts_soon = plan.start_time is None or plan.start_time < soon
            if plan.status == "running" or (plan.status == "waiting" and starts_soon):
                start = "?" if plan.start_time is None else f"{plan.start_time:%Y-%m-%d %H:%M}"
                able.append(f"{plan.id} ({plan.status}, starts {start})")
    return statuses, able


def _workers_alive(count: int) -> bool:
    from prefetch_ui.core.workers import live_workers

    try:
        return len(live_workers()) >= count
    except redis.RedisError:
        return False


def _incidents_queue_empty() -> bool:
    from django.conf import settings

    from prefetch_ui.incidents.services.steps import INCIDENTS_QUEUE

    return int(redis.Redis.from_url(settings.REDIS_URL).llen(INCIDENTS_QUEUE)) == 0


def _claims_by_pid(incident_id: int) -> Counter[int]:
    from prefetch_ui.incidents.models import HeldPlan, StepState

    claimers = HeldPlan.objects.filter(incident_id=incident_id, state=StepState.CLAIMED).values_list(
        "claimed_by", flat=True
    )
    return Counter(int(claimer.rsplit(":", 1)[1]) for claimer in claimers if ":" in claimer)


def _wait_for_hold(
    stack: Stack, result: RunResult, incident_id: int, click_at: float, deaths: dict[str, list[float]]
) -> float | None:
    """Poll the database until the incident is held; in a kill run, kill and restart the worker
    half-way (its death goes into `deaths`, which ends the sync cycle it ran).

    Returns when the worker was restarted (wall clock), if it was.
    """
    from prefetch_ui.incidents.models import HeldPlan, Incident, IncidentStatus, StepState

    restarted_at = None
    while time.time() - click_at < HOLD_TIMEOUT:
        incident = Incident.objects.only("status", "planned_at").get(pk=incident_id)
        if incident.status == IncidentStatus.HELD:
            result.held = True
            break
        if result.spec.kill and restarted_at is None and incident.planned_at is not None:
            steps = HeldPlan.objects.filter(incident_id=incident_id)
            settled = steps.filter(state__in=(StepState.DONE, StepState.FAILED)).count()
            total = steps.count()
            if total and settled * 2 >= total:
                claims = _claims_by_pid(incident_id)
                held_claims = claims[stack.workers[WORKER].process.pid]
                killed_at = time.time()
                stack.kill_worker(WORKER)
                deaths.setdefault(WORKER, []).append(killed_at)
                stack.start_worker(WORKER)
                restarted_at = time.time()
                result.kill_note = (
                    f"{WORKER} killed {killed_at - click_at:.1f} s after the click, with {settled}/{total}"
                    f" plans settled and {held_claims} claimed by it; restarted at once"
                )
        stack.check()
        time.sleep(0.1)
    return restarted_at


def _measure_calls(result: RunResult, calls: list[dict[str, Any]], click_at: float) -> list[float]:
    """The hold's calls from the simulator's log: how they were answered, and when."""
    hold = [call for call in calls if call["at"] >= click_at and call["action"] in HOLD_ACTIONS]
    for call in hold:
        result.calls["ok" if call["status"] < 400 else f"{call['status']} {call['code']}"] += 1
    times = sorted(call["at"] for call in hold)
    if times:
        result.click_to_first = times[0] - click_at
        result.click_to_last = times[-1] - click_at
        result.longest_gap = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
    return times


def run_once(
    spec: RunSpec, *, plans: int, per_job: int, user: User, run_dir: Path, redis_url: str, echo: bool
) -> RunResult:
    from django.core.management import call_command

    from prefetch_ui.incidents.models import HeldPlan, Incident, StepState
    from prefetch_ui.prefetch.services.sync import esa_sync

    # The simulator's state and call log stay there after the run, for a look at where time went.
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    result = RunResult(spec=spec, limit=plans / spec.qps)
    # The simulator keeps a cap on a site's jobs, as ESA does (100): a larger hold has fuller jobs.
    per_job = max(per_job, -(-plans // Limits().max_jobs_per_site))
    _run_environment(qps=spec.qps, quiet_sync=spec.quiet)
    log_path = run_dir / "processes.log"
    with _stack(log_path, echo=echo) as stack:
        sim_args = ["--max-qps", str(spec.qps)]
        if spec.fault_rate:
            sim_args += ["--fault-rate", str(spec.fault_rate), "--seed", "1"]
        endpoint = stack.start_simulator(run_dir / "esa-sim.sqlite3", *sim_args)
        os.environ["ESA_ENDPOINT"] = endpoint
        with _esa(endpoint) as esa:
            started = time.perf_counter()
            job_ids = _estate_create(esa, plans, per_job)
            # The simulator moves plans on when they are read: listed once, those due are running.
            before, _ = _statuses(esa, job_ids)
            result.running, result.waiting = before["running"], before["waiting"]
            report = esa_sync(client=esa)
            if report.site_errors:
                raise HarnessError(f"the sync failed on {report.site_errors} site(s)")
            stack.say(
                f"estate: {dict(before)} in {len(job_ids)} jobs, mirror synced"
                f" ({time.perf_counter() - started:.1f} s)"
            )

        web = processes_start(stack, run_dir, web_port=free_port())
        metrics_before = esa_calls_by_caller(web)
        click_at = time.time()
        status, result.click_ms = click_hold(web, user, site_id=DEMO_SITE_ID, reason="bench-incident")
        if status != 302:
            raise HarnessError(f"the hold answered {status}, not a redirect")
        incident = Incident.objects.latest("pk")
        deaths: dict[str, list[float]] = {}
        restarted_at = _wait_for_hold(stack, result, incident.pk, click_at, deaths)
        metrics_after = esa_calls_by_caller(web)

        calls = httpx.get(f"{endpoint}/_sim/calls", timeout=30).json()["Calls"]
        times = _measure_calls(result, calls, click_at)
        if restarted_at is not None and times:
            result.restart_to_last = times[-1] - restarted_at
        until = times[-1] if times else time.time()
        result.share = sync_share(
            calls=calls,
            since=click_at,
            until=until,
            not_sync=hold_listing_request_ids([incident.pk]),
            metrics_before=metrics_before,
            metrics_after=metrics_after,
        )
        steps = HeldPlan.objects.filter(incident=incident)
        result.plans = steps.count()
        result.outcomes = Counter(steps.values_list("hold_outcome", flat=True))
        result.failed = [
            f"{held.label}: {held.error_code} {held.error_message[:120]} (RequestId {held.request_id})"
            for held in steps.filter(state=StepState.FAILED)
        ]
        with _esa(endpoint) as esa:
            result.statuses_after, result.still_able = _statuses(esa, job_ids)
    result.cycles = sync_cycles_read(log_path, since=click_at, until=until, deaths=deaths)

    # A fresh database and Redis for the next run (the simulator's state was its own file).
    call_command("flush", interactive=False, verbosity=0)
    redis.Redis.from_url(redis_url).flushall()
    return result


# -- the resume run ----------------------------------------------------------------------------

# Two seeded sites with the same shape: one resumed with the default ramp, one as it was, at once.
RAMPED_SITE, AS_IT_WAS_SITE = SEED_SITES[0], SEED_SITES[1]
RESUME_INTERVAL = 300  # seconds between a plan's batches: five minutes, as scheduled prefetch often is
RESUME_SLICE = 10  # URLs a batch
RESUME_URLS_PER_JOB = 10_000  # more than a plan's batches can take in the run
PASSING_EVERY = 3  # one plan in three is waiting at the click, its start passing during the hold
# The passing plans start this long after the estate is made, spread over PASSING_SPREAD: after the
# hold has parked them (it takes about plans / QPS), before the resume.
PASSING_AFTER = timedelta(seconds=75)
PASSING_SPREAD = timedelta(seconds=60)
RESUME_TIMEOUT = 180.0  # seconds after the resume's clicks for both incidents to be resumed


@dataclass(slots=True)
class SiteResume:
    """One site of the resume run: its plans, the preview's figures and what the simulator sent."""

    name: str
    site_id: int
    pace: str  # "ramp" or "as_it_was"
    job_ids: list[str] = field(default_factory=list)
    incident_id: int = 0
    running: int = 0  # at the click, per ESA
    waiting: int = 0
    passed: int = 0  # waiting at the click, their start passed during the hold
    before: tuple[datetime, int] | None = None  # the preview's busiest minute before the hold
    forecast_as_it_was: tuple[datetime, int] | None = None
    forecast_ramped: tuple[datetime, int] | None = None
    default_cap: int = 0
    cap: int | None = None  # what the resume recorded (the ramped site only)
    last_start: datetime | None = None
    outcomes: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    minutes: Counter[int] = field(default_factory=Counter)  # epoch minute → URLs the simulator took
    sent_before: Counter[int] = field(default_factory=Counter)  # the same, before the hold

    @property
    def peak(self) -> tuple[int, int] | None:
        """The busiest whole minute after the resume (epoch minute, URLs)."""
        return max(self.minutes.items(), key=lambda item: (item[1], -item[0]), default=None)


@dataclass(slots=True)
class ResumeResult:
    minutes: int  # the window after the resume that is read
    sites: list[SiteResume]
    hold_click_at: float = 0.0
    held: bool = False
    hold_seconds: float | None = None  # click → both incidents held
    hold_failed: list[str] = field(default_factory=list)
    still_able: list[str] = field(default_factory=list)  # after the hold
    resume_at: float = 0.0
    resumed: bool = False
    resume_seconds: float | None = None  # the clicks → both incidents resumed
    share: SyncShare | None = None  # the sync's ESA calls from the holds' click to their last call
    cycles: SyncCycles = field(default_factory=SyncCycles)  # the sync's cycles meanwhile
    # Incidents marked held or resumed while steps were still unsettled: the most such steps seen.
    marked_early: dict[str, int] = field(default_factory=dict)

    def misses(self) -> list[str]:
        missed = []
        if not self.held:
            missed.append(f"resume: the holds did not finish within {HOLD_TIMEOUT:.0f} s of the click")
        if self.still_able:
            missed.append(f"resume: {len(self.still_able)} plan(s) still able to submit URLs once held")
        if self.hold_failed:
            missed.append(f"resume: {len(self.hold_failed)} plan(s) whose hold failed")
        if not self.resumed:
            missed.append(f"resume: the resumes did not finish within {RESUME_TIMEOUT:.0f} s")
        if self.cycles.overlapping:
            missed.append(f"resume: {self.cycles.overlapping} sync cycle(s) overlapping another")
        for site in self.sites:
            if site.failed:
                missed.append(f"resume: {site.name}: {len(site.failed)} plan(s) whose resume failed")
            peak = site.peak
            if site.pace == "ramp" and site.cap is not None and peak is not None and peak[1] > site.cap:
                missed.append(
                    f"resume: {site.name}: ramped peak {peak[1]} URLs at {_minute(peak[0])} > cap {site.cap}"
                )
        return missed


def _minute(epoch_minute: int) -> str:
    return f"{datetime.fromtimestamp(epoch_minute * 60, UTC):%H:%M}"


def _resume_estate_create(esa: EsaClient, site: SiteResume, plans: int, now: datetime) -> None:
    """Jobs of 100 plans on the site: two in three start now (running at the click), one in three
    starts PASSING_AFTER from now, spread over PASSING_SPREAD; every one a batch of 10 URLs each 5 min."""
    for index in range((plans + RESUME_PLANS_PER_JOB - 1) // RESUME_PLANS_PER_JOB):
        count = min(RESUME_PLANS_PER_JOB, plans - index * RESUME_PLANS_PER_JOB)
        host = next(seed.site_name for seed in SEED_SITES if seed.site_id == site.site_id)
        urls = [f"https://{host}/bench/{index}/asset-{number}.js" for number in range(RESUME_URLS_PER_JOB)]
        job = esa.create_scheduled_preload_job(site_id=site.site_id, name=f"bench resume {index}", urls=urls)
        specs = []
        for number in range(count):
            start = now
            if number % PASSING_EVERY == PASSING_EVERY - 1:
                start = now + PASSING_AFTER + PASSING_SPREAD * number / count
            start = start.replace(microsecond=0)
            specs.append(PlanSpec(start, start + timedelta(hours=6), RESUME_INTERVAL, RESUME_SLICE))
        created = esa.create_scheduled_preload_executions(job.id, specs)
        if created.success_count != count:
            raise HarnessError(
                f"ESA created {created.success_count} of {count} plans: {created.failed_messages}"
            )
        site.job_ids.append(job.id)


def _wait_for_statuses(
    stack: Stack, incident_ids: list[int], status: str, since: float, timeout: float
) -> dict[str, int]:
    """Poll until every incident has `status` and none of their steps is unsettled (the steps are
    the truth: an incident can be marked before its steps are done). Returns, per incident marked
    `status` while steps were still unsettled ("#<pk> <status>"), the most such steps seen; raises
    TimeoutError."""
    from prefetch_ui.incidents.models import UNSETTLED_STEP_STATES, HeldPlan, Incident

    early: dict[str, int] = {}
    while time.time() - since < timeout:
        marked = set(Incident.objects.filter(pk__in=incident_ids, status=status).values_list("pk", flat=True))
        unsettled = Counter(
            HeldPlan.objects.filter(
                incident_id__in=incident_ids, state__in=UNSETTLED_STEP_STATES
            ).values_list("incident_id", flat=True)
        )
        for pk in marked:
            if unsettled[pk]:
                key = f"#{pk} {status}"
                early[key] = max(early.get(key, 0), unsettled[pk])
        if len(marked) == len(incident_ids) and not unsettled:
            return early
        stack.check()
        time.sleep(0.2)
    raise TimeoutError


def _per_minute(batches: list[SubmittedBatch], site_id: int) -> Counter[int]:
    minutes: Counter[int] = Counter()
    for batch in batches:
        if batch.site_id == site_id:
            minutes[int(batch.at // 60)] += batch.urls
    return minutes


def run_resume(
    *, plans: int, minutes: int, user: User, run_dir: Path, redis_url: str, echo: bool
) -> ResumeResult:
    """The resume run; then a fresh database and Redis for the next run."""
    from django.core.management import call_command

    try:
        return _run_resume(
            plans=plans, minutes=minutes, user=user, run_dir=run_dir, redis_url=redis_url, echo=echo
        )
    finally:
        call_command("flush", interactive=False, verbosity=0)
        redis.Redis.from_url(redis_url).flushall()


def _run_resume(
    *, plans: int, minutes: int, user: User, run_dir: Path, redis_url: str, echo: bool
) -> ResumeResult:
    """Hold two sites of the same shape, let a third of their plans' starts pass, resume one with the
    default ramp and the other as it was at the same moment, and count what the simulator took."""
    from django.test import Client
    from django.urls import reverse

    from prefetch_ui.incidents.models import HeldPlan, Incident, IncidentStatus, StepState
    from prefetch_ui.incidents.services.resumes import resume_preview
    from prefetch_ui.prefetch.services.sync import esa_sync

    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    state = run_dir / "esa-sim.sqlite3"
    sites = [
        SiteResume(RAMPED_SITE.site_name, RAMPED_SITE.site_id, "ramp"),
        SiteResume(AS_IT_WAS_SITE.site_name, AS_IT_WAS_SITE.site_id, "as_it_was"),
    ]
    result = ResumeResult(minutes=minutes, sites=sites)
    per_site = plans // len(sites)
    _run_environment(qps=QPS)
    log_path = run_dir / "processes.log"
    with _stack(log_path, echo=echo) as stack:
        endpoint = stack.start_simulator(state, "--max-qps", str(QPS))
        os.environ["ESA_ENDPOINT"] = endpoint
        # The product first, so that the click comes right after the estate is made.
        web = processes_start(stack, run_dir, web_port=free_port())
        made_at = time.time()
        now = datetime.now(UTC)
        with _esa(endpoint) as esa:
            for site in sites:
                _resume_estate_create(esa, site, per_site, now)
                before, _ = _statuses(esa, site.job_ids)
                site.running, site.waiting = before["running"], before["waiting"]
            report = esa_sync(client=esa)
            if report.site_errors:
                raise HarnessError(f"the sync failed on {report.site_errors} site(s)")
        stack.say(
            f"resume estate: {[(site.name, site.running, site.waiting) for site in sites]}"
            f" in {time.time() - made_at:.1f} s"
        )

        client = Client()
        client.force_login(user)
        metrics_before = esa_calls_by_caller(web)
        result.hold_click_at = time.time()
        for site in sites:
            confirm = client.get(reverse("hold-new"), {"site": str(site.site_id)})
            if confirm.status_code != 200:
                raise HarnessError(f"the hold's confirmation answered {confirm.status_code}")
            response = client.post(
                reverse("hold-new"), {"site": str(site.site_id), "reason": "bench-incident resume"}
            )
            if response.status_code != 302:
                raise HarnessError(f"the hold answered {response.status_code}, not a redirect")
            site.incident_id = Incident.objects.latest("pk").pk
        incident_ids = [site.incident_id for site in sites]
        try:
            result.marked_early |= _wait_for_statuses(
                stack, incident_ids, IncidentStatus.HELD, result.hold_click_at, HOLD_TIMEOUT
            )
        except TimeoutError:
            return result
        result.held = True
        result.hold_seconds = time.time() - result.hold_click_at
        held_at = time.time()
        metrics_held = esa_calls_by_caller(web)
        result.hold_failed = [
            f"{held.label}: {held.error_code} {held.error_message[:120]}"
            for held in HeldPlan.objects.filter(incident_id__in=incident_ids, state=StepState.FAILED)
        ]
        with _esa(endpoint) as esa:
            for site in sites:
                _, able = _statuses(esa, site.job_ids)
                result.still_able += able

        # Wait until every passing plan's start has passed, held.
        last_start = now.replace(microsecond=0) + PASSING_AFTER + PASSING_SPREAD
        while datetime.now(UTC) < last_start + timedelta(seconds=5):
            stack.check()
            time.sleep(0.5)
        resume_now = datetime.now(UTC)
        for site in sites:
            incident = Incident.objects.get(pk=site.incident_id)
            site.passed = HeldPlan.objects.filter(
                incident=incident, original_status="waiting", original_start__lt=resume_now
            ).count()
            # What the confirmation shows: the default ramp's figures for this site.
            preview = resume_preview(incident=incident, reschedule=True, caps={})
            (load,) = preview.loads
            site.before, site.forecast_as_it_was = load.before, load.as_it_was
            site.default_cap, site.last_start = load.default_cap, load.last_start
            if site.pace == "ramp":
                site.forecast_ramped = load.ramped

        result.resume_at = time.time()
        for site in sites:
            response = client.post(
                reverse("incident-resume", args=[site.incident_id]),
                {"pace": site.pace, "reschedule": "on", "reason": "bench-incident resume"},
            )
            if response.status_code != 302:
                raise HarnessError(
                    f"the resume of {site.name} answered {response.status_code}, not a redirect"
                )
        try:
            result.marked_early |= _wait_for_statuses(
                stack, incident_ids, IncidentStatus.RESUMED, result.resume_at, RESUME_TIMEOUT
            )
        except TimeoutError:
            pass
        else:
            result.resumed = True
            result.resume_seconds = time.time() - result.resume_at
        for site in sites:
            incident = Incident.objects.get(pk=site.incident_id)
            cap = incident.resume_caps.get(str(site.site_id))
            site.cap = None if cap is None else int(cap)
            steps = HeldPlan.objects.filter(incident=incident)
            site.outcomes = Counter(steps.values_list("resume_outcome", flat=True))
            # For a look at the steps afterwards: (state, resume action, outcome) as the database has them.
            shape = Counter(steps.values_list("state", "resume_action", "resume_outcome"))
            stack.say(f"incident {site.incident_id} ({site.name}) steps once resumed: {dict(shape)}")
            site.failed = [
                f"{held.label}: {held.error_code} {held.error_message[:120]} (RequestId {held.request_id})"
                for held in steps.filter(state=StepState.FAILED)
            ]
        window_end = result.resume_at + minutes * 60
        stack.say(f"resumed; reading what ESA sends until {datetime.fromtimestamp(window_end, UTC):%H:%M:%S}")
        while time.time() < window_end:
            stack.check()
            time.sleep(min(1.0, max(0.0, window_end - time.time())))
        # The simulator records a batch when it next reads its job: read them all, up to now.
        with _esa(endpoint) as esa:
            for site in sites:
                _statuses(esa, site.job_ids)
        after = submitted_batches(state, since=result.resume_at, until=window_end)
        before_hold = submitted_batches(state, since=made_at, until=result.hold_click_at)
        for site in sites:
            site.minutes = _per_minute(after, site.site_id)
            site.sent_before = _per_minute(before_hold, site.site_id)
        calls = httpx.get(f"{endpoint}/_sim/calls", timeout=30).json()["Calls"]
        result.share = sync_share(
            calls=calls,
            since=result.hold_click_at,
            until=held_at,
            not_sync=hold_listing_request_ids([site.incident_id for site in sites]),
            metrics_before=metrics_before,
            metrics_after=metrics_held,
        )
    result.cycles = sync_cycles_read(log_path, since=result.hold_click_at, until=held_at)
    return result


def _load(value: tuple[datetime, int] | None) -> str:
    return "-" if value is None else f"{value[1]} at {value[0]:%H:%M}"


def _resume_report(result: ResumeResult) -> None:
    ramped = next(site for site in result.sites if site.pace == "ramp")
    unramped = next(site for site in result.sites if site.pace != "ramp")
    print(
        f"\nresume: two sites of the same shape (plans every {RESUME_INTERVAL} s,"
        f" {RESUME_SLICE} URLs a batch),"
        f" held at once; one resumed with the default ramp, the other as it was, at the same moment;"
        f" URLs a whole wall-clock minute (UTC) per the simulator's record, for {result.minutes} min after"
    )
    hold = "-" if result.hold_seconds is None else f"{result.hold_seconds:.1f} s"
    resume = "-" if result.resume_seconds is None else f"{result.resume_seconds:.1f} s"
    rows: list[tuple[str, list[str]]] = [
        ("pace", [site.pace for site in result.sites]),
        ("plans: running + waiting at the click", [f"{s.running} + {s.waiting}" for s in result.sites]),
        ("  of which the start passed during the hold", [str(s.passed) for s in result.sites]),
        ("peak before the hold (scheduled, preview)", [_load(s.before) for s in result.sites]),
        ("peak before the hold (sent, simulator)", [_counted(s.sent_before) for s in result.sites]),
        ("cap (the default: the peak before)", [str(s.default_cap) for s in result.sites]),
        ("forecast as it was (preview)", [_load(s.forecast_as_it_was) for s in result.sites]),
        ("forecast under the ramp (preview)", [_load(s.forecast_ramped) for s in result.sites]),
        (
            "ramp's last delayed start",
            [f"{s.last_start:%H:%M}" if s.last_start and s.pace == "ramp" else "-" for s in result.sites],
        ),
        ("peak after the resume (sent, simulator)", [_counted(s.minutes) for s in result.sites]),
        ("  ÷ cap", [_ratio(s.peak, s.default_cap) for s in result.sites]),
        ("  goal", ["≤ cap" if s.pace == "ramp" else "-" for s in result.sites]),
        ("URLs sent in the window", [str(sum(s.minutes.values())) for s in result.sites]),
        (
            "resume outcomes",
            [", ".join(f"{n} {k or '(none)'}" for k, n in s.outcomes.most_common()) for s in result.sites],
        ),
        ("failed resumes", [str(len(s.failed)) for s in result.sites]),
    ]
    names = [site.name for site in result.sites]
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(name), *(len(cells[i]) for _, cells in rows)) for i, name in enumerate(names)]
    print(f"{'':<{label_width}}  " + "  ".join(f"{n:<{w}}" for n, w in zip(names, widths, strict=True)))
    for label, cells in rows:
        print(
            f"{label:<{label_width}}  " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True))
        )
    for site in result.sites:
        shown = " ".join(f"{_minute(m)} {n}" for m, n in sorted(site.minutes.items()))
        print(f"{site.name} ({site.pace}) per minute: {shown or 'nothing'}")
    if ramped.peak is not None and unramped.peak is not None and ramped.peak[1]:
        print(f"unramped peak ÷ ramped peak: {unramped.peak[1] / ramped.peak[1]:.2f}")
    plans = sum(site.running + site.waiting for site in result.sites)
    print(
        f"holds: 2 incidents, {plans} plans, held in {hold} (limit {plans / QPS:.0f} s),"
        f" {len(result.hold_failed)} failed,"
        f" {len(result.still_able)} still able; resume steps all settled in {resume}"
    )
    share = "-" if result.share is None else result.share.line()
    print(f"sync during the holds: {share}; {result.cycles.line()}")
    for marked, steps in sorted(result.marked_early.items()):
        print(
            f"warning: incident {marked} while up to {steps} of its steps were still unsettled"
            " (carried out after; the figures wait for the steps)"
        )
    for site in result.sites:
        for line in site.failed[:10]:
            print(f"{site.name}: failed: {line}")
    for line in result.hold_failed[:10]:
        print(f"hold failed: {line}")
    for line in result.still_able[:10]:
        print(f"still able: {line}")


def _counted(minutes: Counter[int]) -> str:
    if not minutes:
        return "-"
    minute, urls = max(minutes.items(), key=lambda item: (item[1], -item[0]))
    return f"{urls} at {_minute(minute)}"


def _ratio(peak: tuple[int, int] | None, cap: int) -> str:
    return "-" if peak is None or not cap else f"{peak[1] / cap:.2f}x"


# -- the report --------------------------------------------------------------------------------


def _seconds(value: float | None, limit: float) -> str:
    return "-" if value is None else f"{value:.1f} s = {value / limit:.2f}x"


def _report(results: list[RunResult]) -> None:
    print("\nlimit: plans / Q calls a second (the simulator's and the budget's); ratios are over it")
    rows: list[tuple[str, list[str]]] = [
        ("sync", ["kept out (comparison)" if r.spec.quiet else "on, every 3 s" for r in results]),
        ("plans: running + waiting", [f"{r.running} + {r.waiting}" for r in results]),
        ("limit", [f"{r.running + r.waiting} / {r.spec.qps} = {r.limit:.1f} s" for r in results]),
        ("click response", [f"{r.click_ms:.0f} ms = {r.click_ms / 1000 / r.limit:.4f}x" for r in results]),
        ("click → first hold call", [_seconds(r.click_to_first, r.limit) for r in results]),
        ("click → last hold call", [_seconds(r.click_to_last, r.limit) for r in results]),
        ("  goal", [f"≤ {r.spec.goal}x" if r.spec.goal else "-" for r in results]),
        (
            "restart → last hold call",
            [f"{r.restart_to_last:.1f} s" if r.restart_to_last is not None else "-" for r in results],
        ),
        ("  goal", [f"≤ {RESTART_GOAL:.0f} s" if r.spec.kill else "-" for r in results]),
        ("hold calls", [", ".join(f"{n} {k}" for k, n in r.calls.most_common()) for r in results]),
        ("longest pause between calls", [f"{r.longest_gap:.2f} s" for r in results]),
        (
            "outcomes",
            [", ".join(f"{n} {k or '(none)'}" for k, n in r.outcomes.most_common()) for r in results],
        ),
        ("failed holds", [str(len(r.failed)) for r in results]),
        (
            "ESA statuses after",
            [", ".join(f"{n} {k}" for k, n in r.statuses_after.most_common()) for r in results],
        ),
        ("still able to submit URLs", [f"{len(r.still_able)} (must be 0)" for r in results]),
        *sync_rows([(r.share, r.cycles) for r in results], cycles_label="sync cycles during the hold"),
    ]
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(r.spec.name), *(len(cells[i]) for _, cells in rows)) for i, r in enumerate(results)]
    print(
        f"{'':<{label_width}}  "
        + "  ".join(f"{r.spec.name:<{w}}" for r, w in zip(results, widths, strict=True))
    )
    for label, cells in rows:
        print(
            f"{label:<{label_width}}  " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True))
        )
    print(
        f"(the click in {results[0].spec.name} includes this process's first connection to the broker,"
        " as a web process's first click does; parked plans wait a year ahead)"
    )
    for result in results:
        if result.kill_note:
            print(f"{result.spec.name}: {result.kill_note}")
        if result.share is not None:
            print(f"{result.spec.name}: {result.share.line()}; {result.cycles.line()}")
        for line in result.failed[:10]:
            print(f"{result.spec.name}: failed: {line}")
        for line in result.still_able[:10]:
            print(f"{result.spec.name}: still able: {line}")


def _summary(results: list[RunResult], resume: ResumeResult | None, verdict: str) -> str:
    parts = []
    for r in results:
        ratio = "not held" if r.ratio is None else f"{r.ratio:.2f}x"
        goal = f" (≤ {r.spec.goal}x)" if r.spec.goal else ""
        restart = (
            f", {r.restart_to_last:.1f} s after restart (≤ 15 s)" if r.restart_to_last is not None else ""
        )
        share = "-" if r.share is None else f"{r.share.sync_calls / max(1, r.share.all_calls):.0%}"
        quiet = " (sync kept out)" if r.spec.quiet else ""
        parts.append(
            f"{r.spec.name}{quiet} {ratio}{goal}{restart}, click {r.click_ms:.0f} ms,"
            f" able {len(r.still_able)}, failed {len(r.failed)}, sync share {share},"
            f" overlapping cycles {r.cycles.overlapping}"
        )
    if resume is not None:
        parts.append(_resume_summary(resume))
    return f"bench-incident: {'; '.join(parts)} — {verdict}"


def _resume_summary(resume: ResumeResult) -> str:
    pieces = []
    for site in resume.sites:
        peak = "-" if site.peak is None else str(site.peak[1])
        cap = site.cap if site.cap is not None else site.default_cap
        goal = " (≤ cap)" if site.pace == "ramp" else ""
        pieces.append(f"{site.pace} peak {peak}/min vs cap {cap}{goal}")
    return f"resume {', '.join(pieces)} over {resume.minutes} min"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.incident", description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=1000, help="plans to hold (1000)")
    parser.add_argument(
        "--large-plans", type=int, default=5000, help=f"plans the large run holds at {LARGE_QPS}/s (5000)"
    )
    parser.add_argument(
        "--plans-per-job", type=int, default=PLANS_PER_JOB, help=f"a hold run's jobs ({PLANS_PER_JOB})"
    )
    parser.add_argument(
        "--runs",
        default=",".join(DEFAULT_RUNS),
        help=f"comma-separated, of {', '.join([*RUNS, RESUME_RUN])} (default {','.join(DEFAULT_RUNS)})",
    )
    parser.add_argument(
        "--logs", type=Path, default=REPO_DIR / "var" / "bench-incident", help="processes' logs"
    )
    parser.add_argument(
        "--resume-minutes",
        type=int,
        default=10,
        help="minutes after the resume whose URLs are counted (10; fewer for a quick look)",
    )
    parser.add_argument("--verbose", action="store_true", help="echo the processes' output")
    options = parser.parse_args(argv)
    names = [name.strip() for name in options.runs.split(",") if name.strip()]
    if unknown := [name for name in names if name not in RUNS and name != RESUME_RUN]:
        parser.error(f"unknown run(s): {', '.join(unknown)}")
    if min(options.plans, options.large_plans) < 1:
        parser.error("--plans and --large-plans must be positive")
    if not 1 <= options.plans_per_job <= RESUME_PLANS_PER_JOB:
        parser.error(f"--plans-per-job must be between 1 and {RESUME_PLANS_PER_JOB}")
    if "normal-quiet" in names and "normal" not in names:
        names.insert(names.index("normal-quiet"), "normal")  # a figure held still prints beside the real one
    if options.resume_minutes < 1:
        parser.error("--resume-minutes must be positive")

    results: list[RunResult] = []
    resume: ResumeResult | None = None
    with (
        tempfile.TemporaryDirectory(prefix="prefetch-bench-incident-") as work,
        redis_server(Path(work)) as redis_url,
    ):
        _configure(Path(work), redis_url)
        import django

        django.setup()
        # The setup and the checks are throttled now and then, and retry: not worth a line each.
        logging.getLogger("prefetch_ui.esa").setLevel(logging.WARNING)
        logging.getLogger("axes").setLevel(logging.WARNING)  # a line per login, between the figures
        from django.contrib.auth.models import User
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(machine_line())
        print(
            "the product as `make run` starts it: one worker, beat with the sync every 3 s, gunicorn"
            " with 2 workers, the budget at the simulator's Q"
            + (
                "; normal-quiet keeps the sync out (PREFETCH_SYNC_PERIOD=3600), for comparison only"
                if "normal-quiet" in names
                else ""
            )
            + f"; the processes' logs and the simulator's state go to {options.logs}/<run>/"
        )
        for name in names:
            user = User.objects.create_superuser("bench", password=None)
            run_dir = options.logs / name
            try:
                if name == RESUME_RUN:
                    resume = ran = run_resume(
                        plans=options.plans,
                        minutes=options.resume_minutes,
                        user=user,
                        run_dir=run_dir,
                        redis_url=redis_url,
                        echo=options.verbose,
                    )
                else:
                    result = run_once(
                        RUNS[name],
                        plans=options.large_plans if RUNS[name].large else options.plans,
                        per_job=options.plans_per_job,
                        user=user,
                        run_dir=run_dir,
                        redis_url=redis_url,
                        echo=options.verbose,
                    )
            except (HarnessError, Stopping, EsaError, httpx.HTTPError) as error:
                print(f"error: run {name}: {error} (see {run_dir}/processes.log)", file=sys.stderr)
                return 2
            if name == RESUME_RUN:
                print(f"{name}: {_resume_summary(ran)}", flush=True)
                continue
            print(
                f"{name}: {'held' if result.held else 'NOT held'}, ratio "
                f"{'-' if result.ratio is None else f'{result.ratio:.2f}x'}",
                flush=True,
            )
            results.append(result)

    if results:
        _report(results)
    if resume is not None:
        _resume_report(resume)
    missed = [miss for result in results for miss in result.misses()]
    if resume is not None:
        missed += resume.misses()
    print(load_line())
    print(_summary(results, resume, goals_verdict(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
