"""Benchmark the poll fragments and pages, as ratios to a trivial view timed in the same run.

    .venv/bin/python -m bench.run [--rounds 50] [--warmup 5]

A throwaway SQLite database in a temporary folder gets a site with 10,000 jobs and two jobs with 10
and 1,000 plans, one plan of which has just changed, and an incident resuming those 1,000 plans. A
logged-in superuser requests each page through Django's test client (the whole middleware stack,
the view and its template, no network).
Rounds are interleaved, one request of every scenario per round, so a slow spell of the machine
weighs on all of them alike.

Goals (issue 11), as medians over the baseline's median: the poll of a 1,000-plan job at most 2x
when nothing changed and 4x when one plan changed; the poll of the 10,000-job site page at most 3x,
whether nothing or one job changed. The exit status is 1 when a goal is missed or
the whole poll fragment runs more SQL queries for 1,000 plans than for 10, 2 when a page answers
something unexpected.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Imported for real only after django.setup(): the models need the app registry.
    from django.test import Client

    from bench.data import BenchData

if __package__ in (None, ""):
    # Run as `python bench/run.py`: make the repository root importable, for `bench.urls`.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import machine_line
from bench.stack import production_settings
from prefetch_ui.dev.embedded_redis import redis_server

HTMX = {"HX-Request": "true"}
# Statements shown per request when the query counts differ: enough to spot the repeated one.
_SQL_SHOWN = 15


@dataclass(slots=True)
class Scenario:
    """One request, repeated: its label, how to send it, what it must answer, and its timings."""

    label: str
    path: str
    headers: dict[str, str]
    status: int
    must_contain: str  # "" for an answer with no body at all (204)
    must_not_contain: str = ""
    # (marker, n): the answer holds the marker exactly n times, e.g. one `data-plan=` per plan.
    must_repeat: tuple[str, int] | None = None
    # The most its median may be, as a multiple of the baseline's median (issue 11).
    goal: float | None = None
    # Makes the path just before each request (untimed), for a poll whose token moves with the
    # clock: the overview's and the timeline's change every minute.
    fresh_path: Callable[[], str] | None = None
    # Served from the shared poll answers (Redis) once a first request drew it: counted from the second.
    kept: bool = False
    queries: int = 0
    size: int = 0  # bytes of the answer's body
    timings: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.timings) * 1000

    @property
    def p90_ms(self) -> float:
        return statistics.quantiles(self.timings, n=10, method="inclusive")[8] * 1000


class BenchFailure(Exception):
    """A page answered something other than what the scenario measures."""


def _scenarios(data: BenchData) -> list[Scenario]:
    from django.utils import timezone

    from bench.urls import BASELINE_PATH
    from prefetch_ui.incidents.views import PLANS_PER_PAGE as INCIDENT_PLANS_PER_PAGE
    from prefetch_ui.prefetch.models import Job
    from prefetch_ui.prefetch.selectors.incident_steps import job_incident_steps_token
    from prefetch_ui.prefetch.selectors.jobs import PLANS_PER_PAGE
    from prefetch_ui.prefetch.selectors.sites import sites_version
    from prefetch_ui.prefetch.views.sites import JOBS_PER_PAGE
    from prefetch_ui.reviews.selectors.timeline import LANES_PER_PAGE

    # A query no tab asked before (an unknown parameter changes nothing drawn): no answer kept.
    drawings = itertools.count()

    site = f"/sites/{data.big_site_esa_id}/"
    incident = f"/incidents/{data.incident_id}/"
    live, jobs_table = 'id="job-live"', 'id="jobs-table"'
    # A fragment must come without the page around it.
    page = "<html"
    # A poll from a page that says no version gets the whole region (as every poll did before).
    small, large = f"/jobs/{data.small_job_esa_id}/?poll=1", f"/jobs/{data.large_job_esa_id}/?poll=1"
    version = data.large_job_version
    # The page of a job whose plans are being resumed: its poll carries the token of those steps.
    held = f"/jobs/{data.held_job_esa_id}/?poll=1"
    steps_token = job_incident_steps_token(job=Job.objects.get(esa_id=data.held_job_esa_id))
    steps = f"&steps={steps_token}" if steps_token else ""
    return [
        Scenario("baseline (trivial view)", BASELINE_PATH, {}, 200, must_contain="ok"),
        Scenario(
            f"job poll, {data.small_job_plans} plans, whole region",
            small,
            HTMX,
            200,
            live,
            page,
            must_repeat=("data-plan=", data.small_job_plans),
        ),
        Scenario(
            f"job poll, {data.large_job_plans:,} plans, whole region",
            large,
            HTMX,
            200,
            live,
            page,
            must_repeat=("data-plan=", min(PLANS_PER_PAGE, data.large_job_plans)),
        ),
        Scenario(
            f"job poll, {data.large_job_plans:,} plans, nothing changed",
            f"{large}&page=1&v={version}",
            HTMX,
            204,
            "",
            goal=2,
        ),
        Scenario(
            f"job poll, {data.large_job_plans:,} plans, one plan changed",
            f"{large}&page=1&v={version - 1}",
            HTMX,
            200,
            'hx-swap-oob="true"',
            live,
            must_repeat=("data-plan=", 1),
            goal=4,
        ),
        # The same two polls on a job whose 1,000 plans an incident holds (being resumed): the rows
        # say which incident holds them and the buttons ask whether a hold covers the site.
        Scenario(
            f"job poll, {data.large_job_plans:,} held plans, nothing changed",
            f"{held}&page=1&v={data.held_job_version}{steps}",
            HTMX,
            204,
            "",
        ),
        Scenario(
            f"job poll, {data.large_job_plans:,} held plans, one plan changed",
            f"{held}&page=1&v={data.held_job_version - 1}{steps}",
            HTMX,
            200,
            'data-held-by="',
            live,
            must_repeat=("data-plan=", 1),
        ),
        Scenario(
            f"site page, {data.big_site_jobs:,} jobs",
            site,
            {},
            200,
            jobs_table,
            must_repeat=("data-job=", JOBS_PER_PAGE),
        ),
        Scenario(
            f"site poll, {data.big_site_jobs:,} jobs, whole table",
            f"{site}?page=1&poll=1",
            HTMX,
            200,
            jobs_table,
            page,
            must_repeat=("data-job=", JOBS_PER_PAGE),
        ),
        Scenario(
            f"site poll, {data.big_site_jobs:,} jobs, nothing changed",
            f"{site}?page=1&poll=1&v={data.big_site_version}",
            HTMX,
            204,
            "",
            goal=3,
        ),
        Scenario(
            f"site poll, {data.big_site_jobs:,} jobs, one job changed",
            f"{site}?page=1&poll=1&v={data.big_site_version - 1}",
            HTMX,
            200,
            'hx-swap-oob="true"',
            jobs_table,
            must_repeat=("data-job=", 1),
            goal=3,
        ),
        # The team lead's pages (issue 9), over the same estate: the three sites, every job and plan.
        Scenario(
            "overview",
            "/overview/",
            {},
            200,
            'id="overview-live"',
            must_repeat=("data-site-review=", 3),
        ),
        # A change: drawn by the first tab to ask, and as every other tab gets it, from Redis.
        Scenario(
            "overview poll, a change, drawn",
            "/overview/?poll=1",
            HTMX,
            200,
            'id="overview-live"',
            page,
            fresh_path=lambda: f"/overview/?poll=1&drawing={next(drawings)}",
        ),
        Scenario(
            "overview poll, a change, from Redis",
            "/overview/?poll=1",
            HTMX,
            200,
            'id="overview-live"',
            page,
            kept=True,
        ),
        Scenario(
            "overview poll, nothing changed",
            "/overview/?poll=1&v=",
            HTMX,
            204,
            "",
            fresh_path=lambda: f"/overview/?poll=1&v={sites_version(now=timezone.now())}",
        ),
        Scenario(
            "timeline, last 6 h and next 18 h",
            "/timeline/",
            {},
            200,
            'id="timeline-live"',
            must_repeat=('class="lane-label"', LANES_PER_PAGE),
        ),
        Scenario(
            "timeline poll, nothing changed",
            "/timeline/?page=1&poll=1&v=",
            HTMX,
            204,
            "",
            fresh_path=lambda: f"/timeline/?page=1&poll=1&v={sites_version(now=timezone.now())}",
        ),
        Scenario(
            "timeline poll, a change, from Redis",
            "/timeline/?page=1&poll=1",
            HTMX,
            200,
            'id="timeline-live"',
            kept=True,
        ),
        Scenario("audit log, first page", "/audit/", {}, 200, 'data-testid="audit-log"'),
        # The incident page (everyone has it open during an incident), polled every second.
        Scenario(
            f"incident poll, {data.incident_plans:,} plans, whole region",
            f"{incident}?page=1&poll=1",
            HTMX,
            200,
            'id="incident-live"',
            page,
            must_repeat=("data-held-plan=", min(INCIDENT_PLANS_PER_PAGE, data.incident_plans)),
        ),
        Scenario(
            f"incident poll, {data.incident_plans:,} plans, nothing changed",
            f"{incident}?page=1&poll=1&v=",
            HTMX,
            204,
            "",
            # Its token says what the page says of the workers too, which Redis answers.
            fresh_path=lambda: f"{incident}?page=1&poll=1&v={_incident_token(data.incident_id)}",
        ),
    ]


def _incident_token(incident_id: int) -> str:
    from prefetch_ui.incidents import selectors
    from prefetch_ui.incidents.models import Incident

    incident = Incident.objects.get(pk=incident_id)
    return selectors.incident_token(incident, workers=selectors.incident_workers_consuming())


def _request(client: Client, scenario: Scenario) -> tuple[int, str]:
    response = client.get(scenario.path, headers=scenario.headers)
    return response.status_code, response.content.decode()


def _refresh(scenario: Scenario) -> None:
    if scenario.fresh_path is not None:
        scenario.path = scenario.fresh_path()


def _check(scenario: Scenario, status: int, body: str) -> None:
    if status != scenario.status:
        raise BenchFailure(f"{scenario.label}: {scenario.path} answered {status}, expected {scenario.status}")
    if not scenario.must_contain and body:
        raise BenchFailure(f"{scenario.label}: {scenario.path} sent {len(body)} bytes, expected none")
    if scenario.must_contain not in body:
        raise BenchFailure(f"{scenario.label}: {scenario.path} lacks {scenario.must_contain!r}")
    if scenario.must_not_contain and scenario.must_not_contain in body:
        raise BenchFailure(f"{scenario.label}: {scenario.path} contains {scenario.must_not_contain!r}")
    if scenario.must_repeat is not None:
        marker, expected = scenario.must_repeat
        if (found := body.count(marker)) != expected:
            raise BenchFailure(
                f"{scenario.label}: {found} times {marker!r} in {scenario.path}, not {expected}"
            )


def _count_queries(client: Client, scenario: Scenario) -> list[str]:
    """Send the request once, check its answer, record its query count; return the SQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _refresh(scenario)
    if scenario.kept:
        _request(client, scenario)  # the tab that draws it; the scenario is every other tab
    with CaptureQueriesContext(connection) as captured:
        status, body = _request(client, scenario)
    _check(scenario, status, body)
    scenario.queries = len(captured)
    scenario.size = len(body.encode())
    return [query["sql"] for query in captured.captured_queries]


def _time(client: Client, scenarios: list[Scenario], *, rounds: int, warmup: int) -> None:
    # The garbage collector runs between requests, not inside them: otherwise a collection that the
    # big pages' garbage makes due lands on whichever request comes next, often a small poll.
    gc.collect()
    gc.freeze()  # what exists now (the app, the data's leftovers) is not scanned again
    gc.disable()
    try:
        for round_index in range(warmup + rounds):
            for scenario in scenarios:
                _refresh(scenario)
                gc.collect()
                started = time.perf_counter()
                status, _ = _request(client, scenario)
                elapsed = time.perf_counter() - started
                if status != scenario.status:
                    raise BenchFailure(f"{scenario.label}: answered {status} while timed")
                if round_index >= warmup:
                    scenario.timings.append(elapsed)
    finally:
        gc.enable()
        gc.unfreeze()


def _report(scenarios: list[Scenario], *, rounds: int) -> list[str]:
    """Print the table; return the goals missed."""
    baseline = scenarios[0].median_ms
    width = max(len(scenario.label) for scenario in scenarios)
    print(
        f"{'scenario':<{width}}  {'queries':>7}  {'bytes':>8}  {'median ms':>9}  {'p90 ms':>8}"
        f"  {'x baseline':>10}  goal"
    )
    missed = []
    for scenario in scenarios:
        ratio = scenario.median_ms / baseline
        verdict = ""
        if scenario.goal is not None:
            verdict = f"<= {scenario.goal:g}x " + ("ok" if ratio <= scenario.goal else "MISSED")
            if ratio > scenario.goal:
                missed.append(f"{scenario.label}: {ratio:.1f}x the baseline, goal {scenario.goal:g}x")
        print(
            f"{scenario.label:<{width}}  {scenario.queries:>7}  {scenario.size:>8,}"
            f"  {scenario.median_ms:>9.2f}  {scenario.p90_ms:>8.2f}  {ratio:>10.1f}  {verdict}"
        )
    print(f"({rounds} timed rounds; 'x baseline' is each median over the baseline's median)")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50, help="timed requests per scenario (50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per scenario first (5)")
    options = parser.parse_args(argv)
    if options.rounds < 2 or options.warmup < 0:
        parser.error("--rounds must be at least 2 and --warmup not negative")

    with (
        tempfile.TemporaryDirectory(prefix="prefetch-bench-") as database_dir,
        redis_server(Path(database_dir)) as redis_url,  # the poll answers shared by every tab
    ):
        production_settings(Path(database_dir), redis_url=redis_url)
        import django

        django.setup()

        from django.core.management import call_command
        from django.db import connection
        from django.test import Client, override_settings

        from bench.data import bench_data_create

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        data = bench_data_create()
        print(
            f"data: {data.big_site_jobs:,} jobs with {data.big_site_plans:,} plans on one site; jobs with"
            f" {data.small_job_plans} and {data.large_job_plans:,} plans"
            f" ({time.perf_counter() - started:.1f} s)"
        )
        print(machine_line())

        with override_settings(ROOT_URLCONF="bench.urls"):
            client = Client()
            client.force_login(data.user)
            scenarios = _scenarios(data)
            try:
                sql = {scenario.label: _count_queries(client, scenario) for scenario in scenarios}
                _time(client, scenarios, rounds=options.rounds, warmup=options.warmup)
            except BenchFailure as failure:
                print(f"error: {failure}", file=sys.stderr)
                return 2
            finally:
                connection.close()

    print()
    missed = _report(scenarios, rounds=options.rounds)
    for miss in missed:
        print(f"FAIL: {miss}", file=sys.stderr)

    small, large = scenarios[1], scenarios[2]
    if small.queries != large.queries:
        print(
            f"\nFAIL: the poll fragment runs {small.queries} queries for {data.small_job_plans} plans"
            f" but {large.queries} for {data.large_job_plans:,}: it grows with the plans.",
            file=sys.stderr,
        )
        for label in (small.label, large.label):
            print(f"\n{label}:", file=sys.stderr)
            for statement in sql[label][:_SQL_SHOWN]:
                print(f"  {statement[:200]}", file=sys.stderr)
            if len(sql[label]) > _SQL_SHOWN:
                print(f"  … and {len(sql[label]) - _SQL_SHOWN} more", file=sys.stderr)
        return 1
    print(
        f"\nOK: the poll fragment runs {small.queries} queries for {data.small_job_plans} plans"
        f" and for {data.large_job_plans:,}."
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
