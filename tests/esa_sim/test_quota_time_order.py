"""A site's prefetch quota is charged in time order across its jobs, however late they are read.

The simulator computes a job's batches when something reads it. A read after a long gap brings
every job of the site with a batch due forward together, so the URLs refused once the quota runs
out are those of the batches ESA (charging in real time) refuses: the same as a reader that never
let a batch wait, whichever job or listing is read first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, Quotas, SimConfig
from prefetch_ui.esa_sim.actions import ACTIONS
from prefetch_ui.esa_sim.app import EsaSimulator
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator

# 240x on a hand-moved clock: the three simulated hours here are 45 s of the clock, well inside the
# 15 minutes the signature check allows between the client's time and the simulator's.
SPEED = 240
MINUTE = 60
QUOTA = 85  # URLs a day: runs out part-way through a batch, on a tie between the two jobs


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What ESA answers of a job and what the simulator recorded of its batches."""

    task_submitted: int
    url_submitted: int
    error_info: str
    plan_statuses: tuple[str, ...]
    batches: tuple[tuple[float, int, int, int], ...]  # (at, URLs, admitted, refused), in time order


def _batches(db: sqlite3.Connection, job_id: str) -> tuple[tuple[float, int, int, int], ...]:
    rows = db.execute(
        "SELECT at, urls, admitted, refused FROM batches WHERE job_id = ? ORDER BY at, id", (job_id,)
    ).fetchall()
    return tuple((float(row[0]), int(row[1]), int(row[2]), int(row[3])) for row in rows)


# -- over the wire: two jobs, one long jump ------------------------------------------------


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[dict[str, tuple[RunningSimulator, ManualClock]]]:
    """Two simulators with the same quota: one read after a long jump, one read every minute."""
    running: dict[str, tuple[RunningSimulator, ManualClock]] = {}
    contexts = []
    for name in ("jump", "every_minute"):
        clock = ManualClock()
        config = SimConfig(
            state_path=tmp_path / f"{name}.sqlite3",
            speed=SPEED,
            quotas=Quotas(preload_per_site={DEMO_SITE_ID: QUOTA}, time_zone="UTC"),
        )
        context = running_simulator(config, real_time=clock)
        running[name] = (context.__enter__(), clock)
        contexts.append(context)
    try:
        yield running
    finally:
        for context in reversed(contexts):
            context.__exit__(None, None, None)


def _to_simulated(clock: ManualClock, sim: RunningSimulator, moment: float) -> None:
    clock.forward((moment - sim.simulator.store.clock.now()) / SPEED)


def _two_jobs(esa: EsaClient, sim: RunningSimulator, clock: ManualClock) -> tuple[float, str, str]:
    """At 01:00 of the next quota day: A (created first) sends 10 URLs every 10 minutes from 01:05,
    B 10 every 5 minutes from 01:00; 100 URLs each. Returns 01:00 and the two jobs' ids."""
    quotas = sim.simulator.config.quotas
    start = quotas.day_of(sim.simulator.store.clock.now())[1] + 3600
    _to_simulated(clock, sim, start - 10 * MINUTE)
    ids = []
    for name, offset, interval in (("a", 5 * MINUTE, 10 * MINUTE), ("b", 0, 5 * MINUTE)):
        job = esa.create_scheduled_preload_job(
            site_id=DEMO_SITE_ID, name=name, urls=[f"https://example.com/{name}/{n}" for n in range(100)]
        )
        first = datetime.fromtimestamp(start + offset, UTC)
        plan = PlanSpec(
            start_time=first,
            end_time=datetime.fromtimestamp(start + 3 * 3600, UTC),
            interval=interval,
            slice_len=10,
        )
        assert esa.create_scheduled_preload_executions(job.id, [plan]).success_count == 1
        ids.append(job.id)
    return start, ids[0], ids[1]


def _outcome(esa: EsaClient, sim: RunningSimulator, job_id: str) -> JobOutcome:
    job = esa.get_scheduled_preload_job(job_id)
    plans = esa.list_scheduled_preload_executions(job_id).items
    db = sqlite3.connect(f"file:{sim.simulator.store.path}?mode=ro", uri=True)
    try:
        batches = _batches(db, job_id)
    finally:
        db.close()
    return JobOutcome(
        task_submitted=job.task_submitted,
        url_submitted=job.url_submitted,
        error_info=job.error_info,
        plan_statuses=tuple(plan.status for plan in plans),
        batches=batches,
    )


@pytest.mark.parametrize("first_read", ["a", "b", "listing"])
def test_a_long_jump_refuses_the_batches_real_time_charging_refuses(
    sims: dict[str, tuple[RunningSimulator, ManualClock]], first_read: str
) -> None:
    (jump, jump_clock), (steady, steady_clock) = sims["jump"], sims["every_minute"]
    with jump.client() as esa, steady.client() as steady_esa:
        start, a, b = _two_jobs(esa, jump, jump_clock)
        steady_start, steady_a, steady_b = _two_jobs(steady_esa, steady, steady_clock)

        # One jump past every batch, then the first read is of A, of B, or the site's listing.
        _to_simulated(jump_clock, jump, start + 2 * 3600)
        if first_read == "listing":
            listed = list(esa.iter_scheduled_preload_jobs(site_id=DEMO_SITE_ID))
            assert sorted(job.name for job in listed) == ["a", "b"]
        else:
            esa.get_scheduled_preload_job(a if first_read == "a" else b)
        outcome_a, outcome_b = _outcome(esa, jump, a), _outcome(esa, jump, b)

        # The other simulator, read every minute: each batch is charged within a minute of its time.
        moment = steady_start - 10 * MINUTE
        while moment < steady_start + 2 * 3600:
            moment += MINUTE
            _to_simulated(steady_clock, steady, moment)
            steady_esa.get_scheduled_preload_job(steady_b)
            steady_esa.get_scheduled_preload_job(steady_a)
        steady_a_outcome, steady_b_outcome = (
            _outcome(steady_esa, steady, steady_a),
            _outcome(steady_esa, steady, steady_b),
        )

    shift = steady_start - start  # the two simulators' days begin at the same local time
    assert outcome_a == _shifted(steady_a_outcome, -shift)
    assert outcome_b == _shifted(steady_b_outcome, -shift)
    # Worked by hand: B 01:00 (10), A and B 01:05 (30), B 01:10 (40), A and B 01:15 (60), B 01:20
    # (70), A 01:25 (80), then B 01:25 gets the last 5 of the 85 (A goes first on a tie: created
    # first). Every later batch is refused whole.
    assert (outcome_a.task_submitted, outcome_b.task_submitted) == (30, 55)
    used_up = "urls refused (the site's daily prefetch quota was used up)"
    assert outcome_a.error_info == f"quota excess:70 {used_up}"
    assert outcome_b.error_info == f"quota excess:45 {used_up}"
    assert outcome_b.batches[5] == (start + 25 * MINUTE, 10, 5, 5)
    assert [b[2] for b in outcome_a.batches] == [10, 10, 10] + [0] * 7
    assert (outcome_a.url_submitted, outcome_b.url_submitted) == (100, 100)
    assert jump.simulator.preload_used(DEMO_SITE_ID, start) == QUOTA


def _shifted(outcome: JobOutcome, seconds: float) -> JobOutcome:
    return replace(
        outcome,
        batches=tuple(
            (at + seconds, urls, admitted, refused) for at, urls, admitted, refused in outcome.batches
        ),
    )


# -- in process: random schedules, random reads ----------------------------------------------

DAY_START = 1_800_000_000 - 1_800_000_000 % 86_400  # a UTC midnight
BASE = DAY_START + 18 * 3600  # schedules run from 18:00 into the next day (the quota renews)


class _Clock:
    def __init__(self) -> None:
        self.now = float(BASE - 3600)

    def __call__(self) -> float:
        return self.now


def _call(sim: EsaSimulator, action: str, **params: object) -> Any:
    """An action in process, in a transaction as the WSGI app runs it (signatures are not the point)."""
    db = sim.store.db
    db.execute("BEGIN IMMEDIATE")
    try:
        answer = ACTIONS[action](sim.backend, {key: str(value) for key, value in params.items()})
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return answer


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class PlanShape:
    offset: int  # seconds after BASE of the first batch
    interval: int
    batches: int  # batch times in its window
    slice_len: int


@dataclass(frozen=True, slots=True)
class JobShape:
    urls: int
    invalid_every: int  # every n-th URL is not prefetchable (0: none)
    plans: tuple[PlanShape, ...]


def _build(sim: EsaSimulator, jobs: tuple[JobShape, ...]) -> list[str]:
    ids = []
    for number, shape in enumerate(jobs):
        urls = [
            f"https://other.example/{n}"
            if shape.invalid_every and n % shape.invalid_every == 0
            # Same-site URLs: the error entries of the invalid ones are the same in both runs.
            else f"https://example.com/j{number}/{n}"
            for n in range(shape.urls)
        ]
        job = _call(
            sim,
            "CreateScheduledPreloadJob",
            SiteId=DEMO_SITE_ID,
            Name=f"j{number}",
            InsertWay="textBox",
            UrlList="\n".join(urls),
        )
        executions = [
            {
                "StartTime": _iso(BASE + plan.offset),
                "EndTime": _iso(BASE + plan.offset + (plan.batches - 1) * plan.interval),
                "Interval": plan.interval,
                "SliceLen": plan.slice_len,
            }
            for plan in shape.plans
        ]
        answer = _call(
            sim, "CreateScheduledPreloadExecutions", Id=job["Id"], Executions=json.dumps(executions)
        )
        assert answer["SuccessCount"] == len(executions)
        ids.append(str(job["Id"]))
    return ids


def _simulator(tmp_path: Path, name: str, quota: int) -> tuple[EsaSimulator, _Clock]:
    clock = _Clock()
    config = SimConfig(
        state_path=tmp_path / f"{name}.sqlite3",
        speed=1,
        quotas=Quotas(preload_per_site={DEMO_SITE_ID: quota}, time_zone="UTC"),
    )
    return EsaSimulator(config, real_time=clock), clock


def _outcomes(sim: EsaSimulator, ids: list[str]) -> list[JobOutcome]:
    outcomes = []
    for job_id in ids:
        job = _call(sim, "GetScheduledPreloadJob", Id=job_id)
        plans = _call(sim, "ListScheduledPreloadExecutions", Id=job_id)["Executions"]
        outcomes.append(
            JobOutcome(
                task_submitted=job["TaskSubmitted"],
                url_submitted=job["UrlSubmitted"],
                error_info=job["ErrorInfo"],
                plan_statuses=tuple(plan["Status"] for plan in plans),
                batches=_batches(sim.store.db, job_id),
            )
        )
    return outcomes


plan_shapes = st.builds(
    PlanShape,
    offset=st.integers(0, 24 * 12).map(lambda n: n * 300),
    interval=st.sampled_from([300, 900, 1800, 3600]),
    batches=st.integers(1, 10),
    slice_len=st.integers(1, 25),
)
job_shapes = st.builds(
    JobShape,
    urls=st.integers(1, 150),
    invalid_every=st.sampled_from([0, 0, 3, 7]),
    plans=st.lists(plan_shapes, min_size=1, max_size=3).map(tuple),
)
# A read: after `minutes`, read one job (by its index, modulo the number of jobs) or the listing (-1).
reads = st.lists(st.tuples(st.integers(0, 40 * 60), st.integers(-1, 3)), max_size=6)


@settings(max_examples=40, deadline=None)
@given(
    jobs=st.lists(job_shapes, min_size=2, max_size=4).map(tuple),
    quota=st.integers(10, 400),
    late_reads=reads,
    final_order=st.permutations(range(4)),
)
def test_any_reads_at_any_times_charge_as_reading_after_every_batch(
    tmp_path_factory: pytest.TempPathFactory,
    jobs: tuple[JobShape, ...],
    quota: int,
    late_reads: list[tuple[int, int]],
    final_order: list[int],
) -> None:
    tmp_path = tmp_path_factory.mktemp("order")
    end = BASE + max(p.offset + (p.batches - 1) * p.interval for job in jobs for p in job.plans) + 60

    # The reference: every job read, in creation order, at every batch time of the site.
    steady, steady_clock = _simulator(tmp_path, "steady", quota)
    late, late_clock = _simulator(tmp_path, "late", quota)
    try:
        steady_ids = _build(steady, jobs)
        moments = sorted(
            {BASE + p.offset + k * p.interval for job in jobs for p in job.plans for k in range(p.batches)}
        )
        for moment in [*moments, end]:
            steady_clock.now = moment
            for job_id in steady_ids:
                _call(steady, "GetScheduledPreloadJob", Id=job_id)

        # The same schedule read at random times, in random order, then to the end in a random order.
        late_ids = _build(late, jobs)
        for minutes, which in late_reads:
            late_clock.now = min(end, late_clock.now + minutes * 60)
            if which < 0:
                _call(late, "ListScheduledPreloadJobs", SiteId=DEMO_SITE_ID, PageSize=2)
            else:
                _call(late, "GetScheduledPreloadJob", Id=late_ids[which % len(late_ids)])
        late_clock.now = end
        order = [index for index in final_order if index < len(late_ids)]
        for index in order:
            _call(late, "GetScheduledPreloadJob", Id=late_ids[index])

        assert _outcomes(late, late_ids) == _outcomes(steady, steady_ids)
    finally:
        steady.close()
        late.close()


def test_settled_plans_are_not_looked_at_when_a_job_is_read(tmp_path: Path) -> None:
    """The due jobs are one lookup in the `plans_due` index of plans that can still fire."""
    sim, clock = _simulator(tmp_path, "plan", 100)
    try:
        _build(sim, (JobShape(urls=5, invalid_every=0, plans=(PlanShape(0, 300, 1, 5),)),))
        clock.now = BASE + 60
        plan = sim.store.db.execute(
            "EXPLAIN QUERY PLAN SELECT job_id FROM plans WHERE site_id = ? AND state = 'active'"
            " AND next_batch_at <= ?",
            (DEMO_SITE_ID, clock.now),
        ).fetchall()
        assert any("USING INDEX plans_due" in row[3] for row in plan)
    finally:
        sim.close()


def test_a_state_file_from_before_gains_the_plans_site(tmp_path: Path) -> None:
    """Plans written before plans.site_id get their job's site on opening, so their batches still fire."""
    sim, clock = _simulator(tmp_path, "old", 100)
    (job_id,) = _build(sim, (JobShape(urls=30, invalid_every=0, plans=(PlanShape(0, 300, 3, 10),)),))
    sim.close()
    db = sqlite3.connect(tmp_path / "old.sqlite3")
    db.execute("DROP INDEX plans_due")
    db.execute("ALTER TABLE plans DROP COLUMN site_id")
    db.close()
    sim = EsaSimulator(sim.config, real_time=clock)
    try:
        assert [tuple(row) for row in sim.store.db.execute("SELECT DISTINCT site_id FROM plans")] == [
            (DEMO_SITE_ID,)
        ]
        clock.now = BASE + 3600
        assert _call(sim, "GetScheduledPreloadJob", Id=job_id)["TaskSubmitted"] == 30
    finally:
        sim.close()


@pytest.mark.parametrize("action", ["DeleteScheduledPreloadJob", "DeleteScheduledPreloadExecution"])
def test_deleting_a_job_or_plan_first_charges_what_it_sent(tmp_path: Path, action: str) -> None:
    """A job or plan deleted after a long gap had sent its due batches: they used the quota before it went."""
    shapes = (
        JobShape(urls=40, invalid_every=0, plans=(PlanShape(0, 300, 4, 10),)),
        JobShape(urls=40, invalid_every=0, plans=(PlanShape(600, 300, 4, 10),)),
    )
    sim, clock = _simulator(tmp_path, "delete", 50)
    try:
        first, second = _build(sim, shapes)
        clock.now = BASE + 3 * 3600
        if action == "DeleteScheduledPreloadJob":
            _call(sim, action, Id=first)
        else:
            (plan,) = sim.store.db.execute("SELECT id FROM plans WHERE job_id = ?", (first,)).fetchall()
            _call(sim, action, Id=plan[0])
        # The first job sent 10 URLs at 18:00, 18:05, 18:10 and 18:15, the second from 18:10; on a tie
        # the first goes first (created first): only the second's 18:10 batch fits in the 50.
        job = _call(sim, "GetScheduledPreloadJob", Id=second)
        assert (job["TaskSubmitted"], job["UrlSubmitted"]) == (10, 40)
        assert sim.backend.preload_used(DEMO_SITE_ID, BASE) == 50
    finally:
        sim.close()
