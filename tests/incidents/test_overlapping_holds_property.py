"""Overlapping holds, resumes, retries, syncs and console changes in any order keep an incident's promises.

A Hypothesis `RuleBasedStateMachine` drives the real services (holds, resumes, steps, the sync) against
the ESA simulator, in this thread, on one manual clock that the simulator, Django's `timezone.now()` and
the request signer all read. After each step it checks, against the simulator's record of the batches
it submitted and its call log:

1. while any active incident (holding or held) covers a site, no plan of that site submits a URL;
2. no ESA call starts a plan, or moves its window back out of parking, while an active hold covers
   its site;
3. a new hold's confirmation counts (`hold_preview`, just before `hold_request`) are what the hold
   then does: its running plans stopped, its waiting plans parked;

and, at each hold request, that a hold joins an active incident only of the very same scope.
Invariant 1 leaves out the plans someone changed in ESA's console since the last sync: the app
cannot know of them before its next sync.

The drainers' Celery dispatch is replaced by a no-op: the test drains each incident itself, at once,
so that every hold is fully in place before the clock moves (invariant 1 is then strict), and no
drainer message is left in the session's Redis for another test's worker to pick up.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa.auth import AcsV3Auth
from prefetch_ui.esa.times import parse_esa_time
from prefetch_ui.esa_sim import (
    DEMO_ACCESS_KEY_ID,
    DEMO_ACCESS_KEY_SECRET,
    SEED_SITES,
    EsaSimulator,
    SimConfig,
)
from prefetch_ui.esa_sim.testing import ManualClock
from prefetch_ui.incidents import selectors
from prefetch_ui.incidents.models import (
    HOLD_ACTIVE_STATUSES,
    UNSETTLED_STEP_STATES,
    FoundBy,
    HeldPlan,
    HoldAction,
    Incident,
    IncidentStatus,
    StepState,
)
from prefetch_ui.incidents.services import holds, resumes, steps
from prefetch_ui.incidents.services.holds import hold_prepare, hold_preview, hold_request, holds_enforce
from prefetch_ui.incidents.services.resumes import IncidentStateError, resume_request
from prefetch_ui.incidents.services.steps import incident_drain, steps_retry_failed
from prefetch_ui.prefetch.models import Job, Operation, Plan, Site
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.mounted_esa import mounted_client

pytestmark = pytest.mark.django_db(transaction=True)

# The sites with jobs; a hold of every site also covers the fourth seeded site (pending, no jobs).
SITES = [site.site_id for site in SEED_SITES[:3]]
SITE_NAMES = {site.site_id: site.site_name for site in SEED_SITES}
# A window starting this far ahead is parked (PREFETCH_HOLD_PARK_DAYS is a year).
PARKED_BEYOND = timedelta(days=300)
# Whole seconds: ESA's times have no fraction, and neither does this clock's start.
START = 1_796_600_000.0
# How many times a step's drain may be needed before the test calls it stuck.
MAX_DRAINS = 5


@dataclass(slots=True)
class World:
    """What every example of the machine shares: the clock the whole test reads, and where files go."""

    clock: ManualClock
    tmp: Path
    files: Iterator[int]


def clocked_client(simulator: EsaSimulator, clock: ManualClock) -> EsaClient:
    """Our client on `simulator`, in this thread, signing with the manual clock's time.

    The simulator refuses a request dated more than 15 minutes from its own clock, and this test moves
    its clock by hours.
    """
    client = mounted_client(simulator, sleep=lambda seconds: None)  # retries without waiting
    # EsaClient takes no signing clock of its own: its httpx client's auth is replaced.
    client._http.auth = AcsV3Auth(DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, now=clock.moment)
    return client


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _urls(site_id: int, count: int) -> list[str]:
    return [f"https://{SITE_NAMES[site_id]}/asset-{index}.js" for index in range(count)]


class OverlappingHolds(RuleBasedStateMachine):
    world: ClassVar[World]
    # Invariant 3; a regression test of another invariant may turn it off to isolate that one.
    check_confirmations: bool = True

    def __init__(self) -> None:
        super().__init__()
        world = self.world
        self.clock = world.clock
        self.clock.now = START
        self.sim = EsaSimulator(
            SimConfig(state_path=world.tmp / f"sim-{next(world.files)}.sqlite3"), real_time=self.clock
        )
        self.esa = clocked_client(self.sim, self.clock)  # the dashboard's workers and sync
        self.console = clocked_client(self.sim, self.clock)  # someone in ESA's console
        self.user = User.objects.create(username=f"operator-{next(world.files)}")
        # The incidents whose hold is active, as the test asked for them:
        # pk -> site ESA id (None: every site).
        self.active: dict[int, int | None] = {}
        self.jobs: dict[int, str] = {}
        # Plans started, moved back or created in the console since the last sync: the app cannot know
        # of them yet, so their batches do not count against invariant 1 until a sync has run.
        self.unseen: set[str] = set()
        self._seed()
        self._sync()

    def teardown(self) -> None:
        self.esa.close()
        self.console.close()
        self.sim.close()
        HeldPlan.objects.all().delete()
        Incident.objects.all().delete()
        Operation.objects.all().delete()
        Plan.objects.all().delete()
        Job.objects.all().delete()
        Site.objects.all().delete()
        User.objects.filter(pk=self.user.pk).delete()

    # -- the estate ------------------------------------------------------------------------------

    def _seed(self) -> None:
        """Per site, one job with plans running, waiting (one whose start and end pass within the
        first hour, one starting later), and stopped."""
        now = self.clock.now
        for site_id in SITES:
            job = self.console.create_scheduled_preload_job(
                site_id=site_id, name=f"assets of {SITE_NAMES[site_id]}", urls=_urls(site_id, 3000)
            )
            self.jobs[site_id] = job.id
            _running, _soon, _later, stopped = self.console.create_scheduled_preload_executions(
                job.id,
                [
                    PlanSpec(_at(now), _at(now + 8 * 3600), 120, 2),
                    PlanSpec(_at(now + 600), _at(now + 2400), 60, 2),
                    PlanSpec(_at(now + 5400), _at(now + 6 * 3600), 300, 3),
                    PlanSpec(_at(now), _at(now + 8 * 3600), 60, 1),
                ],
            ).succeeded
            self.console.list_scheduled_preload_executions(job.id)  # the first batches go out
            self.console.stop_scheduled_preload_execution(stopped.id)

    def _sim_plans(self, site_id: int, state: str | None = None) -> list[Any]:
        """The simulator's plan rows of a site, oldest first (optionally in one engine state)."""
        return list(
            self.sim.store.db.execute(
                "SELECT plans.* FROM plans JOIN jobs ON jobs.id = plans.job_id WHERE jobs.site_id = ?"
                " AND (? IS NULL OR plans.state = ?) ORDER BY plans.seq",
                (site_id, state, state),
            )
        )

    def _site_of_plan(self, plan_id: str) -> int:
        row = self.sim.store.db.execute(
            "SELECT jobs.site_id FROM plans JOIN jobs ON jobs.id = plans.job_id WHERE plans.id = ?",
            (plan_id,),
        ).fetchone()
        return int(row[0])

    def _catch_up(self) -> None:
        """Every job read, so the simulator records each batch that was due (it advances on reads)."""
        for job_id in self.jobs.values():
            self.console.list_scheduled_preload_executions(job_id)

    # -- the app's work, in this thread ------------------------------------------------------------

    def _covered(self) -> set[int]:
        """The sites an active hold covers now, by the test's own account, checked against the app's."""
        in_db = set(Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).values_list("pk", flat=True))
        assert in_db == set(self.active), (
            f"active incidents: the app has {in_db}, the test {set(self.active)}"
        )
        if None in self.active.values():
            return set(SITE_NAMES)
        return {site_id for site_id in self.active.values() if site_id is not None}

    def _drain(self, incident_id: int) -> None:
        for _ in range(MAX_DRAINS):
            incident_drain(incident_id=incident_id, client=self.esa)
            if not HeldPlan.objects.filter(incident_id=incident_id, state__in=UNSETTLED_STEP_STATES).exists():
                return
        raise AssertionError(f"incident {incident_id} still has steps pending after {MAX_DRAINS} drains")

    def _drain_open(self) -> None:
        pending = HeldPlan.objects.filter(state__in=UNSETTLED_STEP_STATES).values_list(
            "incident_id", flat=True
        )
        for incident_id in sorted(set(pending)):
            self._drain(incident_id)

    def _sync(self) -> None:
        """A cycle of the beat's sync task: the mirror, then the holds enforced, then drained."""
        esa_sync(client=self.esa, watched=selectors.held_site_watch())
        holds_enforce()
        self._drain_open()
        self.unseen.clear()

    def _check_calls_since(self, first: int) -> None:
        """Invariant 2 over the calls the app made since call number `first`."""
        covered = self._covered()
        now = _at(self.clock.now)
        for call in self.sim.calls()[first:]:
            if call["status"] != 200:
                continue
            plan_id = call["params"].get("Id", "")
            if call["action"] == "StartScheduledPreloadExecution":
                what = "started"
            elif call["action"] == "UpdateScheduledPreloadExecution" and (
                parse_esa_time(call["params"]["StartTime"]) < now + PARKED_BEYOND
            ):
                what = f"moved back to start at {call['params']['StartTime']}"
            else:
                continue
            site_id = self._site_of_plan(plan_id)
            assert site_id not in covered, (
                f"plan {plan_id} of {SITE_NAMES[site_id]} was {what} while a hold covers it "
                f"(active incidents: {self.active})"
            )

    def _hold(self, site_id: int | None, resume_early: bool) -> None:
        site = Site.objects.get(esa_id=site_id) if site_id is not None else None
        first = len(self.sim.calls())
        preview = hold_preview(site=site)
        incident, created = hold_request(user=self.user, site=site, reason="")
        if not created:
            assert self.active.get(incident.pk, "absent") == site_id, (
                f"a hold of {site_id or 'every site'} joined incident {incident.pk}, "
                f"a hold of {self.active.get(incident.pk, 'nothing active') or 'every site'}"
            )
            return
        self.active[incident.pk] = site_id
        if resume_early:
            self._resume_while_holding(incident)
        hold_prepare(incident_id=incident.pk)
        if incident.pk not in self.active:  # resumed before it was in place: nothing was held
            self._check_calls_since(first)
            return
        self._drain(incident.pk)
        incident.refresh_from_db()
        assert incident.status == IncidentStatus.HELD
        self._check_calls_since(first)
        if not self.check_confirmations:
            return
        # Invariant 3: what the confirmation said is what the hold did.
        found = HeldPlan.objects.filter(incident=incident, found_by=FoundBy.HOLD)
        stops = found.filter(hold_action=HoldAction.STOP).count()
        parks = found.filter(hold_action=HoldAction.PARK).count()
        assert (preview.running, preview.waiting, preview.to_touch) == (stops, parks, stops + parks), (
            f"the confirmation of a hold of {site_id or 'every site'} said {preview.running} running, "
            f"{preview.waiting} waiting; the hold stopped {stops} and parked {parks}"
        )

    def _resume_while_holding(self, incident: Incident) -> None:
        """Asked before the hold is in place: refused, and then nothing changed; or accepted."""
        calls = len(self.sim.calls())
        steps_before = list(HeldPlan.objects.filter(incident=incident).values())
        try:
            resume_request(user=self.user, incident=incident, reschedule=True)
        except IncidentStateError:
            incident.refresh_from_db()
            assert incident.status == IncidentStatus.HOLDING
            assert list(HeldPlan.objects.filter(incident=incident).values()) == steps_before
            assert len(self.sim.calls()) == calls
        else:
            del self.active[incident.pk]
            self._drain(incident.pk)

    # -- rules -------------------------------------------------------------------------------------

    @initialize(site_ids=st.lists(st.sampled_from(SITES), unique=True, max_size=2))
    def some_sites_held_already(self, site_ids: list[int]) -> None:
        """Examples often start with holds in place, so that later holds overlap them."""
        for site_id in site_ids:
            self._hold(site_id, resume_early=False)

    @rule(site_id=st.sampled_from(SITES), resume_early=st.booleans())
    def hold_a_site(self, site_id: int, resume_early: bool) -> None:
        self._hold(site_id, resume_early)

    @rule(resume_early=st.booleans())
    def hold_every_site(self, resume_early: bool) -> None:
        self._hold(None, resume_early)

    def _resumable(self) -> list[int]:
        return sorted(
            Incident.objects.filter(pk__in=self.active, status=IncidentStatus.HELD).values_list(
                "pk", flat=True
            )
        )

    @precondition(lambda self: bool(self._resumable()))
    @rule(
        which=st.integers(min_value=0, max_value=7),
        reschedule=st.booleans(),
        esa_down=st.booleans(),
    )
    def resume(self, which: int, reschedule: bool, esa_down: bool) -> None:
        """Resume an incident whose hold is in place; with `esa_down`, ESA answers every call of its
        steps 503, so they fail (for `retry_failed`, later, perhaps under another hold)."""
        candidates = self._resumable()
        incident = Incident.objects.get(pk=candidates[which % len(candidates)])
        first = len(self.sim.calls())
        resume_request(user=self.user, incident=incident, reschedule=reschedule)
        del self.active[incident.pk]
        config = self.sim.config
        if esa_down:
            self.sim.config = replace(config, fault_rate=1.0)
        try:
            self._drain(incident.pk)
        finally:
            self.sim.config = config
        self._check_calls_since(first)

    def _with_failed_steps(self) -> list[int]:
        return sorted(
            set(HeldPlan.objects.filter(state=StepState.FAILED).values_list("incident_id", flat=True))
        )

    @precondition(lambda self: bool(self._with_failed_steps()))
    @rule(which=st.integers(min_value=0, max_value=7))
    def retry_failed(self, which: int) -> None:
        candidates = self._with_failed_steps()
        incident = Incident.objects.get(pk=candidates[which % len(candidates)])
        first = len(self.sim.calls())
        steps_retry_failed(incident=incident)
        self._drain(incident.pk)
        self._check_calls_since(first)

    @rule()
    def sync(self) -> None:
        first = len(self.sim.calls())
        self._sync()
        self._check_calls_since(first)

    @rule(
        change=st.sampled_from(["start a stopped plan", "move a parked plan back", "create a plan"]),
        site_id=st.sampled_from(SITES),
        which=st.integers(min_value=0, max_value=7),
    )
    def console_change(self, change: str, site_id: int, which: int) -> None:
        """Someone in ESA's console starts a stopped plan, moves a parked plan's window back to now,
        or creates a plan starting now (one rule, so that holds and resumes come up as often)."""
        now = int(self.clock.now)
        if change == "start a stopped plan":
            stopped = self._sim_plans(site_id, "stopped")
            if stopped:
                plan_id = stopped[which % len(stopped)]["id"]
                self.console.start_scheduled_preload_execution(plan_id)
                self.unseen.add(plan_id)
        elif change == "move a parked plan back":
            parked_after = self.clock.now + PARKED_BEYOND.total_seconds()
            parked = [row for row in self._sim_plans(site_id, "active") if row["start_time"] > parked_after]
            if parked:
                row = parked[which % len(parked)]
                self.console.update_scheduled_preload_execution(
                    row["id"], PlanSpec(_at(now), _at(now + 3600), row["interval"], row["slice_len"])
                )
                self.unseen.add(row["id"])
        else:
            (plan,) = self.console.create_scheduled_preload_executions(
                self.jobs[site_id], [PlanSpec(_at(now), _at(now + 3600), 60, 2)]
            ).succeeded
            self.unseen.add(plan.id)

    @rule(seconds=st.integers(min_value=30, max_value=20 * 60))
    def time_passes(self, seconds: int) -> None:
        """Invariant 1 over the stretch of time: no batch of a covered site after its start.

        The stretch checked is (start, end]: coverage changes only at steps, every hold is fully in
        place when the clock moves, and a batch in the instant of the start may have gone out before
        a hold made in that instant was in place. Plans changed in the console since the last sync
        are left out: the app cannot know of them before its next sync (the sync rule).
        """
        covered = self._covered()
        start = self.clock.now
        self.clock.forward(seconds)
        self._catch_up()
        submitted = [batch for batch in self.sim.submitted_batches(since=start) if batch.at > start]
        offending = [
            batch for batch in submitted if batch.site_id in covered and batch.plan_id not in self.unseen
        ]
        assert not offending, (
            f"while {sorted(SITE_NAMES[site] for site in covered)} were held ({self.active}), "
            + ", ".join(
                f"plan {batch.plan_id} of {SITE_NAMES[batch.site_id]} submitted {batch.urls} URLs "
                f"at +{batch.at - start:.0f} s"
                for batch in offending[:5]
            )
        )

    @invariant()
    def no_step_left_claimed(self) -> None:
        assert not HeldPlan.objects.filter(state=StepState.CLAIMED).exists()


def _dispatch_nothing(incident_id: int) -> int:
    return 0


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> World:
    clock = ManualClock()
    monkeypatch.setattr(timezone, "now", clock.moment)
    module: ModuleType
    for module in (holds, resumes, steps):
        for name in ("drainers_dispatch", "prepare_dispatch"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, _dispatch_nothing)
    return World(clock=clock, tmp=tmp_path, files=itertools.count())


def test_overlapping_holds_keep_their_promises_in_any_order(world: World) -> None:
    OverlappingHolds.world = world
    run_state_machine_as_test(
        OverlappingHolds,
        settings=settings(
            max_examples=50,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# -- the examples Hypothesis found before overlapping holds composed: kept as plain regression tests ----


def test_a_hold_of_every_site_over_a_held_site_counts_only_what_it_will_touch(world: World) -> None:
    OverlappingHolds.world = world
    state = OverlappingHolds()
    try:
        state.hold_a_site(site_id=SITES[0], resume_early=False)
        state.hold_every_site(resume_early=False)
    finally:
        state.teardown()


def test_a_hold_of_a_site_while_every_site_is_held_is_an_incident_of_its_own(world: World) -> None:
    OverlappingHolds.world = world
    state = OverlappingHolds()
    try:
        state.hold_every_site(resume_early=False)
        state.hold_a_site(site_id=SITES[0], resume_early=False)
    finally:
        state.teardown()


def test_resuming_a_site_under_a_hold_of_every_site_puts_back_nothing(world: World) -> None:
    OverlappingHolds.world = world
    state = OverlappingHolds()
    state.check_confirmations = False  # invariant 3 fails first on main in this order; this is about 2
    try:
        state.hold_a_site(site_id=SITES[1], resume_early=False)
        state.hold_every_site(resume_early=False)
        state.resume(which=0, reschedule=True, esa_down=False)
        state.time_passes(seconds=600)
    finally:
        state.teardown()


def test_retrying_a_failed_resume_under_a_newer_hold_puts_back_nothing(world: World) -> None:
    OverlappingHolds.world = world
    state = OverlappingHolds()
    try:
        state.hold_every_site(resume_early=False)
        state.resume(which=0, reschedule=False, esa_down=True)  # every step fails: ESA answers 503
        state.hold_every_site(resume_early=False)
        state.retry_failed(which=0)
    finally:
        state.teardown()
