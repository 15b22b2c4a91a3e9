"""Poll the dashboard at 50 requests a second on the product as production runs it: p50/p95/p99, errors;
and time the first mirror of a site of 10,000 jobs.

    .venv/bin/python -m bench.load [--rate 50] [--seconds 60] [--targets job,site,overview]
                                   [--phases mirroring,steady] [--jobs 10000] [--job-plans 1000]
                                   [--mirror-jobs 10000]

The product runs as `make run` starts it (bench/production.py): the ESA simulator at `--max-qps 50`,
Redis, one Celery worker (its thread pool), beat with the real sync every 3 s, gunicorn with 2 worker
processes and production settings (DEBUG off; plain HTTP on loopback), the budget at 50, over a
throwaway SQLite database. The estate is in the simulator, made before it starts (in this process,
on its state file, so that making it costs no budget): example.com with `--jobs` jobs of 2 plans,
most finished, some running or waiting (plans of 1-6 hours; one job in ten still running), and a
job of `--job-plans` running plans on shop.example.net; the mirror of these two sites is made in
this process too. Then static.example.org gets `--mirror-jobs` jobs of a running plan each, which
the mirror has never seen, and the product starts: its sync makes the first mirror of that site.

Phases, each polling every target in turn:
- mirroring: while that first mirror runs (each target says for how much of its window it did);
- steady: once it is made, with the sync going on as usual.
The first mirror is timed from the first sync cycle's start until every job of the site has its
plans in the mirror; goal ≤ 1.2x the ESA calls made meanwhile (the simulator's log) / 50.

For each target, an asynchronous client (httpx, loopback only) sends `--rate` requests a second for
`--seconds` seconds on a fixed schedule, whatever the answers (so a slow server shows as queueing,
not as fewer requests), as htmx polls them: a logged-in session, `HX-Request: true`, `?poll=1`.
Targets: the job poll fragment of the running job, the site page's jobs table of example.com, the
overview's fragment. Each request may take 10 s in all; every answer but 200 or 286 (stop polling),
and every timeout or connection error, is an error, as is a poll not sent because 200 are already
waiting (the client's bound). Goals: p95 ≤ 50 ms and no error, per target and phase; the first
mirror as above; no two sync cycles at once. Each phase prints the sync's cycles meanwhile.
Exit status: 1 when a goal is missed, 2 when the harness could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.production import processes_start, session_cookie, sync_cycles_read
from bench.report import goals_verdict, load_line, machine_line
from bench.stack import Stack, production_settings
from prefetch_ui.dev.embedded_redis import redis_server
from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import Stopping
from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, SEED_SITES, Limits
from prefetch_ui.esa_sim.app import EsaSimulator, SimConfig

if TYPE_CHECKING:
    from prefetch_ui.esa_sim.store import SeedSite

REPO_DIR = Path(__file__).resolve().parent.parent
QPS = 50  # the simulator's --max-qps and the product's budget
GOAL_P95_MS = 50.0
GOAL_MIRROR = 1.2  # first mirror ≤ 1.2x its calls / QPS
MIRROR_TIMEOUT = 1800.0  # seconds for the first mirror to be made before the steady phase
REQUEST_TIMEOUT = 10.0
HTMX = {"HX-Request": "true"}
OK_STATUSES = frozenset({200, 204, 286})
# At most this many polls waiting for an answer; beyond it a poll counts as an error without being
# sent. It bounds the client too: httpx's pool slows down with every request queued in it, and a
# generator that falls behind its schedule would offer less load than it says.
MAX_IN_FLIGHT = 200
BIG_SITE, POLL_SITE, MIRROR_SITE = SEED_SITES[0], SEED_SITES[1], SEED_SITES[2]
PHASES = ("mirroring", "steady")
_POLL_EVERY = re.compile(r'hx-trigger="[^"]*every (\d+)s')
_POLL_URL = re.compile(r'hx-get="([^"]*[?&](?:amp;)?poll=1[^"]*)"')


@dataclass(slots=True)
class Target:
    """One URL polled at the rate, and what came back."""

    name: str
    path: str
    must_contain: str
    phase: str = ""
    every: float = 0.0  # seconds between one tab's polls, as the page asks (read from its answer)
    tabs: list[str] = field(default_factory=list)  # each open tab's poll URL, as its last answer set it
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    sent: int = 0
    late_ms: float = 0.0  # how far behind its schedule the generator sent its latest request, at worst
    alone_ms: float = 0.0  # one request with nothing else asked of gunicorn (the last warm-up's)
    received: int = 0  # body bytes as they came over the wire
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # answered at, status, seconds
    window: tuple[float, float] = (0.0, 0.0)  # when its load began and ended (epoch seconds)

    @property
    def label(self) -> str:
        return f"{self.phase}: {self.name}"

    @property
    def redrawn(self) -> int:
        """Answers with something to swap in (200), as opposed to 204 (nothing changed) and 286."""
        return self.statuses[200]

    def quantile_ms(self, q: int) -> float | None:
        if len(self.latencies) < 2:
            return None
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000

    def misses(self) -> list[str]:
        missed = []
        p95 = self.quantile_ms(95)
        if p95 is None or p95 > GOAL_P95_MS:
            shown = "-" if p95 is None else f"{p95:.0f} ms"
            missed.append(f"{self.label}: p95 {shown} > {GOAL_P95_MS:.0f} ms")
        if self.errors:
            missed.append(f"{self.label}: {sum(self.errors.values())} error(s) of {self.sent}")
        return missed


# -- the estate, in the simulator ----------------------------------------------------------------------


@dataclass(slots=True)
class Estate:
    big_jobs: int
    poll_job_id: str = ""
    poll_plans: int = 0
    mirror_jobs: int = 0


def _sim_limits(options: argparse.Namespace) -> list[str]:
    """The simulator's limits that let it hold the estate (its defaults are 100 jobs a site and 100
    plans a job, below what the goals are written for)."""
    return [
        *("--max-jobs-per-site", str(max(options.jobs, options.mirror_jobs, 100))),
        *("--max-plans-per-job", str(max(options.job_plans, 100))),
    ]


def _in_process_client(state: Path, options: argparse.Namespace) -> tuple[EsaSimulator, EsaClient]:
    """A simulator on `state` in this process, without flow control, and a client over WSGI to it."""
    simulator = EsaSimulator(
        SimConfig(
            state_path=state,
            limits=Limits(
                max_jobs_per_site=max(options.jobs, options.mirror_jobs, 100),
                max_plans_per_job=max(options.job_plans, 100),
            ),
        )
    )
    client = EsaClient(
        endpoint="http://esa-sim.local",
        access_key_id=DEMO_ACCESS_KEY_ID,
        access_key_secret=DEMO_ACCESS_KEY_SECRET,
        transport=httpx.WSGITransport(app=simulator),
    )
    return simulator, client


def _jobs_create(
    esa: EsaClient, site: SeedSite, count: int, *, rng: random.Random, now: datetime, settled: bool
) -> None:
    """`count` jobs on `site`. `settled`: two plans each, four jobs in five finished, the rest running
    or waiting, as a long-lived site is; otherwise one running plan each."""
    for index in range(count):
        urls = [f"https://{site.site_name}/load/{index}/asset-{number}.js" for number in range(20)]
        job = esa.create_scheduled_preload_job(site_id=site.site_id, name=f"load {index:05d}", urls=urls)
        if not settled:
            specs = [PlanSpec(now, now + timedelta(hours=6), 600, 1)]
        elif rng.random() < 0.8:
            begin = now - timedelta(days=rng.randint(2, 30))
            specs = [PlanSpec(begin, begin + timedelta(hours=rng.choice([1, 6])), 600, 1) for _ in range(2)]
        else:
            start = now if rng.random() < 0.5 else now + timedelta(hours=1)
            specs = [PlanSpec(start, start + timedelta(hours=6), 600, 1) for _ in range(2)]
        esa.create_scheduled_preload_executions(job.id, specs)


def estate_create(state: Path, options: argparse.Namespace) -> Estate:
    """The estate in the simulator's state file and the mirror of example.com and shop.example.net in
    the database; then static.example.org's jobs, which only the product's sync will mirror."""
    from prefetch_ui.prefetch.services.sync import esa_sync

    rng = random.Random(20261207)  # noqa: S311 - reproducible fake data, not security
    now = datetime.now(UTC).replace(microsecond=0)
    estate = Estate(big_jobs=options.jobs, mirror_jobs=options.mirror_jobs)
    simulator, esa = _in_process_client(state, options)
    try:
        with esa:
            _jobs_create(esa, BIG_SITE, options.jobs, rng=rng, now=now, settled=True)
            urls = [f"https://{POLL_SITE.site_name}/load/poll/asset-{n}.js" for n in range(50_000)]
            job = esa.create_scheduled_preload_job(site_id=POLL_SITE.site_id, name="Running plans", urls=urls)
            for first in range(0, options.job_plans, 100):
                specs = [
                    PlanSpec(now, now + timedelta(hours=6), 300, 1)
                    for _ in range(min(100, options.job_plans - first))
                ]
                esa.create_scheduled_preload_executions(job.id, specs)
            estate.poll_job_id, estate.poll_plans = job.id, options.job_plans
            # The sync spreads a first mirror over cycles (PREFETCH_SYNC_BACKLOG_SECONDS a cycle):
            # as many as it takes, so that every job of both sites has its plans in the mirror.
            while True:
                report = esa_sync(client=esa)
                if report.site_errors:
                    raise Stopping(f"the first mirror failed on {report.site_errors} site(s)", 2)
                if not report.backlog_left:
                    break
            _jobs_create(esa, MIRROR_SITE, options.mirror_jobs, rng=rng, now=now, settled=False)
    finally:
        simulator.close()
    return estate


def _mirrored(site_esa_id: int) -> int:
    """Jobs of the site whose plans are in the mirror."""
    from prefetch_ui.prefetch.models import Job

    return Job.objects.filter(site__esa_id=site_esa_id, plans_synced_at__isnull=False).count()


class MirrorWatch(threading.Thread):
    """Notes when every job of static.example.org has its plans in the mirror (polls the database)."""

    def __init__(self, jobs: int) -> None:
        super().__init__(name="mirror-watch", daemon=True)
        self.jobs = jobs
        self.done_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stop.is_set():
                if _mirrored(MIRROR_SITE.site_id) >= self.jobs:
                    self.done_at = time.time()
                    return
                self.stop.wait(0.5)
        finally:
            connection.close()

    def running_during(self, window: tuple[float, float]) -> float:
        """Seconds of `window` during which the first mirror was still being made."""
        end = self.done_at if self.done_at is not None else time.time()
        return max(0.0, min(window[1], end) - window[0])


# -- the load ---------------------------------------------------------------------------------------


def poll_url_of(body: str) -> str | None:
    """The URL the answer's polling element asks next (`hx-get` with `poll=1`), as htmx reads it."""
    found = _POLL_URL.search(body)
    return html.unescape(found.group(1)) if found else None


async def _poll(client: httpx.AsyncClient, target: Target, tab: int) -> None:
    started = time.perf_counter()
    try:
        # httpx's timeout bounds each step (connect, each read); this bounds the whole request.
        async with asyncio.timeout(REQUEST_TIMEOUT):
            response = await client.get(target.tabs[tab], headers=HTMX)
    except (TimeoutError, httpx.TimeoutException):
        target.errors["timeout"] += 1
        return
    except httpx.HTTPError as error:
        target.errors[type(error).__name__] += 1
        return
    elapsed = time.perf_counter() - started
    target.statuses[response.status_code] += 1
    target.received += response.num_bytes_downloaded  # as sent: compressed when gzip
    if response.status_code not in OK_STATUSES:
        target.errors[f"HTTP {response.status_code}"] += 1
        return
    if response.status_code == 200:
        if target.must_contain not in response.text:
            target.errors["unexpected answer"] += 1
            return
        # As htmx does: the swapped-in polling element says what the next poll asks.
        target.tabs[tab] = poll_url_of(response.text) or target.tabs[tab]
    target.latencies.append(elapsed)
    target.samples.append((time.time(), response.status_code, elapsed))


async def _load(web: str, cookies: dict[str, str], target: Target, *, rate: float, seconds: float) -> None:
    """`rate` requests a second for `seconds` seconds, on schedule, each from the next open tab in
    turn (so each tab polls every `target.every` seconds); waits for the last answer."""
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
            tasks.append(asyncio.create_task(_poll(client, target, index % len(target.tabs))))
        await asyncio.gather(*tasks)


@dataclass(slots=True)
class FirstMirror:
    """The first mirror of static.example.org: from the first sync cycle's start until every job of
    the site has its plans in the mirror, and the ESA calls made meanwhile."""

    jobs: int
    started_at: float | None = None
    done_at: float | None = None
    calls: int = 0

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.done_at is None:
            return None
        return self.done_at - self.started_at

    @property
    def ratio(self) -> float | None:
        seconds = self.seconds
        return None if seconds is None or not self.calls else seconds / (self.calls / QPS)

    def line(self) -> str:
        if self.seconds is None or self.ratio is None:
            return f"first mirror of {self.jobs:,} jobs: not made"
        return (
            f"first mirror of {self.jobs:,} jobs: {self.seconds:.1f} s for {self.calls:,} ESA calls,"
            f" {self.ratio:.2f}x their {self.calls / QPS:.1f} s at {QPS}/s (goal ≤ {GOAL_MIRROR}x)"
        )

    def misses(self) -> list[str]:
        if self.ratio is None:
            return [f"the first mirror of {self.jobs:,} jobs was not made within {MIRROR_TIMEOUT:.0f} s"]
        if self.ratio > GOAL_MIRROR:
            return [f"first mirror {self.ratio:.2f}x > {GOAL_MIRROR}x its calls / {QPS}"]
        return []


def _report(targets: list[Target], *, rate: float, seconds: float, watch: MirrorWatch) -> None:
    print(
        f"\n{rate:g} polls a second for {seconds:g} s per target; goals: p95 ≤ {GOAL_P95_MS:.0f} ms, 0 errors"
    )
    width = max(len(target.label) for target in targets)
    header = (
        f"{'target':<{width}} {'sent':>6} {'ok/s':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  errors"
    )
    print(header)
    for target in targets:
        cells = [target.quantile_ms(q) for q in (50, 95, 99)]
        shown = ["-" if cell is None else f"{cell:.0f} ms" for cell in cells]
        worst = f"{max(target.latencies) * 1000:.0f} ms" if target.latencies else "-"
        errors = ", ".join(f"{n} {kind}" for kind, n in target.errors.most_common()) or "0"
        answered = f"{len(target.latencies) / seconds:.1f}"
        figures = f"{target.sent:>6} {answered:>6} {shown[0]:>8} {shown[1]:>8} {shown[2]:>8} {worst:>8}"
        print(f"{target.label:<{width}} {figures}  {errors}")
    for target in targets:
        p95 = target.quantile_ms(95)
        ratio = "-" if p95 is None else f"{p95 / GOAL_P95_MS:.1f}x the goal"
        statuses = ", ".join(f"{n}x {status}" for status, n in sorted(target.statuses.items()))
        during = ""
        if target.phase == "mirroring":
            span = target.window[1] - target.window[0]
            ran = watch.running_during(target.window)
            during = f"; polled {ran:.0f} s of {span:.0f} s while the first mirror ran"
        print(
            f"{target.label}: p95 = {ratio}; {len(target.tabs)} tabs polling every {target.every:g} s;"
            f" answers {statuses or 'none'} ({target.received / seconds / 1024:.0f} KB/s in all);"
            f" a whole region alone takes {target.alone_ms:.0f} ms;"
            f" the generator was at worst {target.late_ms:.0f} ms behind its schedule{during}"
        )


def _targets(estate: Estate, phase: str) -> dict[str, Target]:
    return {
        "job": Target(
            f"job poll fragment, {estate.poll_plans:,} running plans",
            f"/jobs/{estate.poll_job_id}/",
            'id="job-poll"',
            phase=phase,
        ),
        "site": Target(
            f"site jobs table, {estate.big_jobs:,} jobs",
            f"/sites/{BIG_SITE.site_id}/",
            'id="jobs-poll"',
            phase=phase,
        ),
        "overview": Target("overview poll fragment", "/overview/", 'id="overview-live"', phase=phase),
    }


def _target_poll(
    stack: Stack, web: str, cookies: dict[str, str], target: Target, *, rate: float, seconds: float
) -> None:
    """Warm the region up as a page load's first poll asks it, open the tabs, and poll."""
    # Each region a few times, unhurried, as a page load's first poll asks it (no version): it
    # answers what the load expects, and gunicorn's workers have their imports and the first
    # queries behind them.
    for _ in range(3):
        alone = time.perf_counter()
        answer = httpx.get(
            f"{web}{target.path}", params={"poll": "1"}, headers=HTMX, cookies=cookies, timeout=60
        )
    target.alone_ms = (time.perf_counter() - alone) * 1000
    poll_url = poll_url_of(answer.text)
    trigger = _POLL_EVERY.search(answer.text)
    if answer.status_code != 200 or target.must_contain not in answer.text or not poll_url or not trigger:
        raise Stopping(f"{target.label} answered {answer.status_code} without its polling element", 2)
    # The tabs open on the page, each polling as often as the page asks: together, the rate.
    target.every = float(trigger.group(1))
    target.tabs = [poll_url] * max(1, round(rate * target.every))
    began = time.time()
    asyncio.run(_load(web, cookies, target, rate=rate, seconds=seconds))
    target.window = (began, time.time())
    stack.check()  # the product must still be running
    p95 = target.quantile_ms(95)
    print(
        f"{target.label}: {target.sent} sent, p95 {'-' if p95 is None else f'{p95:.0f} ms'},"
        f" {sum(target.errors.values())} error(s)",
        flush=True,
    )


def _mirror_wait(stack: Stack, watch: MirrorWatch) -> None:
    deadline = time.time() + MIRROR_TIMEOUT
    while watch.done_at is None and watch.is_alive() and time.time() < deadline:
        stack.check()
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50, help="requests a second (50)")
    parser.add_argument("--seconds", type=float, default=60, help="per target (60)")
    parser.add_argument("--targets", default="job,site,overview", help="comma-separated (job,site,overview)")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated ({','.join(PHASES)})")
    parser.add_argument("--jobs", type=int, default=10_000, help="example.com's jobs (10000)")
    parser.add_argument("--job-plans", type=int, default=1_000, help="the polled job's running plans (1000)")
    parser.add_argument(
        "--mirror-jobs",
        type=int,
        default=10_000,
        help="jobs of the site first mirrored by the product (10000)",
    )
    parser.add_argument("--logs", type=Path, default=REPO_DIR / "var" / "load", help="processes' logs")
    parser.add_argument("--verbose", action="store_true", help="echo the processes' output")
    parser.add_argument(
        "--samples", type=Path, help="write every answer (target, unix time, status, ms) to this CSV"
    )
    options = parser.parse_args(argv)
    if options.rate <= 0 or options.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    if min(options.jobs, options.job_plans, options.mirror_jobs) < 1:
        parser.error("--jobs, --job-plans and --mirror-jobs must be positive")
    names = [name.strip() for name in options.targets.split(",") if name.strip()]
    if unknown := [name for name in names if name not in ("job", "site", "overview")]:
        parser.error(f"unknown target(s): {', '.join(unknown)}")
    phases = [phase.strip() for phase in options.phases.split(",") if phase.strip()]
    if unknown := [phase for phase in phases if phase not in PHASES]:
        parser.error(f"unknown phase(s): {', '.join(unknown)}")
    phases.sort(key=PHASES.index)  # the first mirror runs first

    options.logs.mkdir(parents=True, exist_ok=True)
    log_path = options.logs / "processes.log"
    state = options.logs / "esa-sim.sqlite3"
    state.unlink(missing_ok=True)
    targets: list[Target] = []
    mirror = FirstMirror(jobs=options.mirror_jobs)
    windows: dict[str, tuple[float, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="prefetch-load-") as work,
        redis_server(Path(work)) as redis_url,
        log_path.open("w", encoding="utf-8") as log,
    ):
        os.environ.pop("PREFETCH_SYNC_PERIOD", None)  # the product's default period
        production_settings(
            Path(work),
            redis_url=redis_url,
            PREFETCH_ESA_CALLS_PER_SECOND=str(QPS),
            ESA_ACCESS_KEY_ID=DEMO_ACCESS_KEY_ID,
            ESA_ACCESS_KEY_SECRET=DEMO_ACCESS_KEY_SECRET,
        )
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        estate = estate_create(state, options)
        print(
            f"estate: {estate.big_jobs:,} jobs on {BIG_SITE.site_name} (mirrored), a job of"
            f" {estate.poll_plans:,} running plans on {POLL_SITE.site_name} (mirrored),"
            f" {estate.mirror_jobs:,} jobs on {MIRROR_SITE.site_name} (not yet mirrored)"
            f" ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        user = User.objects.create_superuser("load", password=None)
        cookie_name, cookie_value = session_cookie(user)
        cookies = {cookie_name: cookie_value}
        stack = Stack(cwd=REPO_DIR, log=log, echo=options.verbose)
        watch = MirrorWatch(options.mirror_jobs)
        product_at = time.time()
        try:
            endpoint = stack.start_simulator(state, "--max-qps", str(QPS), *_sim_limits(options))
            os.environ["ESA_ENDPOINT"] = endpoint
            watch.start()
            web = processes_start(stack, options.logs, web_port=free_port())
            print(machine_line("gunicorn 2 workers, one Celery worker, the sync every 3 s"), flush=True)
            for phase in phases:
                if phase == "steady":
                    _mirror_wait(stack, watch)
                    if watch.done_at is None:
                        raise Stopping(f"the first mirror was not made within {MIRROR_TIMEOUT:.0f} s", 2)
                phase_began = time.time()
                for name in names:
                    target = _targets(estate, phase)[name]
                    targets.append(target)
                    # A fresh gunicorn per target: an overloaded one would still be working through the
                    # previous target's backlog (it answers requests whose client has given up).
                    if len(targets) > 1:
                        stack.stop_child("web", grace=2)
                        web = stack.start_web(free_port(), workers=2)
                    _target_poll(stack, web, cookies, target, rate=options.rate, seconds=options.seconds)
                windows[phase] = (phase_began, time.time())
            _mirror_wait(stack, watch)
            calls = httpx.get(f"{endpoint}/_sim/calls", timeout=60).json()["Calls"]
        except (Stopping, httpx.HTTPError) as error:
            print(f"error: {error} (see {log_path})", file=sys.stderr)
            return 2
        finally:
            watch.stop.set()
            stack.stop_children()
        ended_at = time.time()

    cycles = sync_cycles_read(log_path, since=product_at, until=ended_at)
    if cycles.cycles:
        mirror.started_at = cycles.cycles[0].started
    mirror.done_at = watch.done_at
    if mirror.started_at is not None and mirror.done_at is not None:
        mirror.calls = sum(1 for call in calls if mirror.started_at <= call["at"] <= mirror.done_at)

    _report(targets, rate=options.rate, seconds=options.seconds, watch=watch)
    for phase, window in windows.items():
        print(f"{phase}: {sync_cycles_read(log_path, since=window[0], until=window[1]).line()}")
    print(f"all along: {cycles.line()}")
    print(mirror.line())
    if options.samples:
        with options.samples.open("w", encoding="utf-8") as samples:
            samples.write("phase,target,answered_at,status,ms\n")
            for target in targets:
                for at, status, took in target.samples:
                    samples.write(
                        f"{target.phase},{target.name.split()[0]},{at:.3f},{status},{took * 1000:.1f}\n"
                    )
    missed = [miss for target in targets for miss in target.misses()] + mirror.misses()
    if cycles.overlapping:
        missed.append(f"{cycles.overlapping} sync cycle(s) overlapping another")
    print(load_line())
    print(f"load: {len(targets)} target(s), {goals_verdict(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
