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
import html
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.report import goals_verdict, machine_line
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
OK_STATUSES = frozenset({200, 204, 286})
# At most this many polls waiting for an answer; beyond it a poll counts as an error without being
# sent. It bounds the client too: httpx's pool slows down with every request queued in it, and a
# generator that falls behind its schedule would offer less load than it says.
MAX_IN_FLIGHT = 200
_POLL_EVERY = re.compile(r'hx-trigger="[^"]*every (\d+)s')
_POLL_URL = re.compile(r'hx-get="([^"]*[?&](?:amp;)?poll=1[^"]*)"')


@dataclass(slots=True)
class Target:
    """One URL polled at the rate, and what came back."""

    name: str
    path: str
    must_contain: str
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
            missed.append(f"{self.name}: p95 {shown} > {GOAL_P95_MS:.0f} ms")
        if self.errors:
            missed.append(f"{self.name}: {sum(self.errors.values())} error(s) of {self.sent}")
        return missed


# -- the stand-in for the sync (a process of its own: `--write-mirror`) -------------------------------


def write_mirror(period: float, job_esa_id: str, site_esa_id: int) -> None:
    """Every `period` seconds, through the sync's own writers (which compare with the mirror, write
    what differs and stamp the site's next change version): the polled job's progress moves and one
    of its first page's plans changes, and a page of 500 of the big site's jobs moves on."""
    import django

    django.setup()
    from django.utils import timezone

    from bench.data import esa_job_of, esa_plan_of
    from prefetch_ui.prefetch.models import Job
    from prefetch_ui.prefetch.services.sync import jobs_upsert, plans_upsert

    cycle = 0
    while True:
        started = time.monotonic()
        now = timezone.now()
        polled = Job.objects.select_related("site").get(esa_id=job_esa_id)
        submitted = (polled.url_submitted + 10) % (polled.url_count + 1)
        progress = {"url_submitted": submitted, "task_submitted": submitted}
        jobs_upsert(
            site=polled.site, jobs=[esa_job_of(polled, site_esa_id=polled.site.esa_id, **progress)], now=now
        )
        plans = list(polled.plans.order_by("start_time", "id")[:100])  # the job page's first page
        moved = plans[cycle % len(plans)]
        plans_upsert(
            job=polled,
            plans=[esa_plan_of(moved, job_esa_id=polled.esa_id, slice_len=moved.slice_len % 100 + 1)],
            now=now,
        )
        offset = (cycle * JOB_PAGE) % 10_000
        jobs = list(
            Job.objects.filter(site__esa_id=site_esa_id)
            .select_related("site")
            .order_by("pk")[offset : offset + JOB_PAGE]
        )
        if jobs:
            moving = [
                esa_job_of(job, site_esa_id=site_esa_id, url_submitted=job.url_submitted + 1)
                for job in jobs
                if job.url_submitted < job.url_count
            ]
            jobs_upsert(site=jobs[0].site, jobs=moving, now=now)
        took = time.monotonic() - started
        print(f"mirror written: 1 job and 1 plan, {len(jobs)} jobs read in {took * 1000:.0f} ms", flush=True)
        cycle += 1
        time.sleep(max(0.0, period - took))


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
            f"{target.name}: p95 = {ratio}; {len(target.tabs)} tabs polling every {target.every:g} s;"
            f" answers {statuses or 'none'} ({target.received / seconds / 1024:.0f} KB/s in all);"
            f" a whole region alone takes {target.alone_ms:.0f} ms;"
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
    parser.add_argument(
        "--samples", type=Path, help="write every answer (target, unix time, status, ms) to this CSV"
    )
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
                'id="job-poll"',
            ),
            "site": Target(
                f"site jobs table, {data.big_site_jobs:,} jobs",
                f"/sites/{data.big_site_esa_id}/",
                'id="jobs-poll"',
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
            print(machine_line(f"gunicorn {options.web_workers} workers"), flush=True)
            for target in targets:
                # A fresh gunicorn per target: an overloaded one would still be working through the
                # previous target's backlog (it answers requests whose client has given up).
                web = stack.start_web(free_port(), workers=options.web_workers)
                # Each region a few times, unhurried, as a page load's first poll asks it (no
                # version): it answers what the load expects, and gunicorn's workers have their
                # imports and the first queries behind them.
                for _ in range(3):
                    alone = time.perf_counter()
                    answer = httpx.get(
                        f"{web}{target.path}", params={"poll": "1"}, headers=HTMX, cookies=cookies, timeout=60
                    )
                target.alone_ms = (time.perf_counter() - alone) * 1000
                poll_url = poll_url_of(answer.text)
                trigger = _POLL_EVERY.search(answer.text)
                if (
                    answer.status_code != 200
                    or target.must_contain not in answer.text
                    or not poll_url
                    or not trigger
                ):
                    raise Stopping(
                        f"{target.name} answered {answer.status_code} without its polling element", 2
                    )
                # The tabs open on the page, each polling as often as the page asks: together, the rate.
                target.every = float(trigger.group(1))
                target.tabs = [poll_url] * max(1, round(options.rate * target.every))
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
    if options.samples:
        with options.samples.open("w", encoding="utf-8") as samples:
            samples.write("target,answered_at,status,ms\n")
            for target in targets:
                for at, status, took in target.samples:
                    samples.write(f"{target.name.split()[0]},{at:.3f},{status},{took * 1000:.1f}\n")
    missed = [miss for target in targets for miss in target.misses()]
    print(f"load: {len(targets)} target(s), {goals_verdict(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
