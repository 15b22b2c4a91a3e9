"""Holding all prefetch on a site, or on every site: asked for in the web, carried out by workers.

The click only records the incident (`hold_request`): listing the plans and the ESA calls happen in
workers (`hold_prepare`, then the drainers of `steps`), so it answers at once whatever the estate's
size. While the hold is active, the sync calls `holds_enforce`, which holds whatever started in the
scope meanwhile: a plan created or started in the ESA console, or one someone moved back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from prefetch_ui.dispatch import task_send
from prefetch_ui.prefetch.models import UNFINISHED_PLAN_STATUSES, Plan, PlanStatus, Site
from prefetch_ui.prefetch.services.changes import hold_scope_changed

from ..models import (
    HOLD_ACTIVE_STATUSES,
    OPEN_INCIDENT_STATUSES,
    UNSETTLED_STEP_STATES,
    FoundBy,
    HeldPlan,
    HoldAction,
    HoldOutcome,
    Incident,
    IncidentHolder,
    IncidentStatus,
    StepState,
)
from ..tasks import hold_prepare_task
from . import scopes
from .changes import incident_version_next
from .scopes import (
    held_plan_ids,
    hold_changes_serialized,
    hold_of_scope,
    resuming_steps_take_over,
    scope_plans,
    scope_site_ids,
)
from .steps import drainers_dispatch, incident_settle, lost_claims_release

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser
# Past this, an incident whose plans were never listed is presumed to have lost its task.
UNPLANNED_AFTER = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class HoldPreview:
    """What a hold of this scope will do, from the mirror, before anything is sent.

    Plans another open incident already holds are not the new hold's to touch: they are counted
    apart (`held_elsewhere`), and pass to the new hold if their incident resumes first.
    """

    running: int  # will be stopped
    waiting: int  # will be parked
    finished: int  # finished or failed: nothing to do
    stopped: int  # stopped before the hold (by no incident): left as they are
    held_elsewhere: int  # already held by another open incident
    sites: int
    held_by: Incident | None  # an active hold of exactly this scope: a hold joins it
    covered_by: Incident | None  # for a site: a hold of every site that covers it already

    @property
    def to_touch(self) -> int:
        return self.running + self.waiting


def hold_preview(*, site: Site | None) -> HoldPreview:
    plans = scope_plans(site=site)
    held = Q(esa_id__in=held_plan_ids())
    counts = plans.aggregate(
        running=Count("pk", filter=Q(status=PlanStatus.RUNNING) & ~held),
        waiting=Count("pk", filter=Q(status=PlanStatus.WAITING) & ~held),
        finished=Count("pk", filter=Q(status__in=(PlanStatus.FINISHED, PlanStatus.FAILED))),
        stopped=Count("pk", filter=Q(status=PlanStatus.STOPPED) & ~held),
        held_elsewhere=Count("pk", filter=held & ~Q(status__in=(PlanStatus.FINISHED, PlanStatus.FAILED))),
    )
    held_by = hold_of_scope(site=site)
    covered_by = None
    if site is not None and held_by is None:
        covered_by = hold_of_scope(site=None)
    return HoldPreview(
        running=counts["running"],
        waiting=counts["waiting"],
        finished=counts["finished"],
        stopped=counts["stopped"],
        held_elsewhere=counts["held_elsewhere"],
        sites=1 if site is not None else Site.objects.count(),
        held_by=held_by,
        covered_by=covered_by,
    )


def hold_request(
    *, user: User, site: Site | None, reason: str, via: str = "", holder_key: str = ""
) -> tuple[Incident, bool]:
    """Record a hold of `site` (None: every site) and send it to the workers once committed.

    Returns the incident and whether it is new: a scope already held as a whole (a site by its own
    hold, every site by a hold of every site) joins the incident holding it. A site held only as
    part of a hold of every site gets a hold of its own, which keeps it held if that one resumes
    first. Plans that incidents being resumed have not put back yet pass to the new hold.

    Every request is recorded as one of the incident's holders (`IncidentHolder`): `via` says who
    asked when not `user` on a page ("token NAME of USER", "alert NAME via receiver R"), and
    `holder_key` names a holder that may let go by itself (an alert's fingerprint).
    """
    user_id = user.pk if user.is_authenticated else None
    with transaction.atomic():
        hold_changes_serialized()
        # Looked up through the module: a test makes two clicks look at once.
        if existing := scopes.hold_of_scope(site=site):
            IncidentHolder.objects.create(
                incident=existing, user_id=user_id, via=via[:255], key=holder_key[:255], reason=reason.strip()
            )
            return existing, False
        incident = Incident.objects.create(
            site=site, reason=reason.strip(), held_by_id=user_id, held_via=via[:255]
        )
        IncidentHolder.objects.create(
            incident=incident,
            user_id=user_id,
            via=via[:255],
            key=holder_key[:255],
            reason=reason.strip(),
            opened=True,
        )
        # Every job page of the scope stops offering Start, Edit, Reset and Add plans.
        hold_scope_changed(site_ids=scope_site_ids(site=site))
        resumed_from = resuming_steps_take_over(incident=incident)
        incident_id = incident.pk

        def after_commit() -> None:
            for other in resumed_from:
                incident_settle(incident_id=other)
            prepare_dispatch(incident_id=incident_id)

        transaction.on_commit(after_commit)
    return incident, True


def prepare_dispatch(*, incident_id: int) -> None:
    """Send the hold's preparation (its queue is CELERY_TASK_ROUTES'); the sweep sends it again if
    the broker refuses."""
    task_send(hold_prepare_task, (incident_id,), what=f"the hold of incident {incident_id}")


# Steps of a hold written, committed and sent to the drainers before the rest are written: writing
# 5,000 took 1.4 s, the drainers' first call waiting all that time.
FIRST_STEPS = 500


def _parked_before(plans: list[Plan]) -> dict[str, HeldPlan]:
    """Of these plans, those still where an earlier incident parked them (its resume failed, or was
    never made), with that incident's row: their original window is that row's, not the park's."""
    parked_at = {plan.esa_id: plan.start_time for plan in plans if plan.start_time is not None}
    earlier = HeldPlan.objects.filter(plan_esa_id__in=list(parked_at), parked_start__isnull=False).order_by(
        "pk"
    )
    return {row.plan_esa_id: row for row in earlier if parked_at[row.plan_esa_id] == row.parked_start}


def _held_plan(
    incident: Incident, plan: Plan, found_by: FoundBy, parked_by: HeldPlan | None = None
) -> HeldPlan:
    running = plan.status == PlanStatus.RUNNING
    if parked_by is not None:
        status, start, end = parked_by.original_status, parked_by.original_start, parked_by.original_end
    else:
        status, start, end = plan.status, plan.start_time, plan.end_time
    return HeldPlan(
        incident=incident,
        plan=plan,
        plan_esa_id=plan.esa_id,
        job_esa_id=plan.job.esa_id,
        site_id=plan.job.site_id,
        label=f"{plan.job.name} / plan …{plan.short_id}"[:255],
        found_by=found_by,
        original_status=status,
        original_start=start,
        original_end=end,
        interval=plan.interval,
        slice_len=plan.slice_len,
        hold_action=HoldAction.STOP if running else HoldAction.PARK,
        # Running plans submit URLs now: they go first.
        priority=0 if running else 1,
    )


def hold_prepare(*, incident_id: int) -> int:
    """List the plans the hold must touch, as steps, and send drainers. Idempotent."""
    with transaction.atomic():
        # Only the incident's row: its site is on the nullable side of an outer join (None: every
        # site), which PostgreSQL refuses to lock.
        incident = (
            Incident.objects.select_for_update(of=("self",))
            .select_related("site")
            .filter(pk=incident_id)
            .first()
        )
        if incident is None:  # gone (a test's database emptied; an admin's delete): nothing to hold
            return 0
        if incident.planned_at is not None or incident.status != IncidentStatus.HOLDING:
            return 0
        plans = (
            scope_plans(site=incident.site)
            .filter(status__in=UNFINISHED_PLAN_STATUSES)
            .exclude(esa_id__in=held_plan_ids())
            .select_related("job")
        )
        # The page lists its plans (it said they were being listed): drawn again as a whole.
        version = incident_version_next(incident_id=incident_id, whole=True)
        listed = list(plans.iterator(chunk_size=2000))
        parked = _parked_before([plan for plan in listed if plan.status == PlanStatus.WAITING])
        steps = [_held_plan(incident, plan, FoundBy.HOLD, parked.get(plan.esa_id)) for plan in listed]
        # Running plans first; the first steps go to the drainers while the rest are written.
        steps.sort(key=lambda step: step.priority)
        first, rest = steps[:FIRST_STEPS], steps[FIRST_STEPS:]
        _steps_written(incident_id, first, version=version, last=not rest)
        if rest:
            transaction.on_commit(lambda: drainers_dispatch(incident_id=incident_id))
    if rest:
        with transaction.atomic():
            # Under the lock every change of who holds what takes: a plan another hold took
            # meanwhile is that hold's.
            hold_changes_serialized()
            ids = [step.plan_esa_id for step in rest]
            taken = {row["plan_esa_id"] for row in held_plan_ids().filter(plan_esa_id__in=ids)}
            rest = [step for step in rest if step.plan_esa_id not in taken]
            _steps_written(
                incident_id,
                rest,
                version=incident_version_next(incident_id=incident_id, whole=True),
                last=True,
            )
    return len(first) + len(rest)


def _steps_written(incident_id: int, steps: list[HeldPlan], *, version: int, last: bool) -> None:
    """Write a hold's steps; after the `last` of them the hold is planned (it may then be held)."""
    for step in steps:
        step.version = version
    HeldPlan.objects.bulk_create(steps, batch_size=1000, ignore_conflicts=True)
    if last:
        Incident.objects.filter(pk=incident_id).update(planned_at=timezone.now())
        transaction.on_commit(lambda: _after_planning(incident_id))


def _after_planning(incident_id: int) -> None:
    incident_settle(incident_id=incident_id)  # a scope with nothing to hold is held at once
    drainers_dispatch(incident_id=incident_id)


def holds_enforce(*, now: datetime | None = None) -> int:
    """While a hold is active, hold what started in its scope since; returns the steps added.

    Called after each sync: a plan created or started in the ESA console, a plan someone moved back
    from where the hold parked it, a settled plan restarted by a job reset. Each is recorded on the
    incident (found by the sync, or held again). Where holds overlap, a site's own hold takes what
    started there before a hold of every site does.
    """
    added = 0
    active = Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES, planned_at__isnull=False)
    # A hold whose fan-out is under way is left alone: the sync left its sites out of the cycle
    # (`selectors.fan_out_sites`), so it found nothing there, and looking through every plan of the
    # scope each cycle only takes the database from the drainers. It is looked at once it is done.
    fanning = HeldPlan.objects.filter(incident=OuterRef("pk"), state__in=UNSETTLED_STEP_STATES)
    active = active.exclude(Q(status=IncidentStatus.HOLDING) & Exists(fanning))
    for incident in active.order_by(F("site_id").asc(nulls_last=True), "pk"):
        if _enforce_needed(incident):
            added += _enforce(incident)
    return added


def _enforce_needed(incident: Incident) -> bool:
    """A cheap look, without the lock, whether the sync found anything for this incident."""
    new, again = _escapes(incident)
    return bool(new or again)


def _escapes(incident: Incident) -> tuple[list[HeldPlan], list[HeldPlan]]:
    """The plans of the scope to hold that no incident holds (new rows) and this incident's own
    plans that can submit URLs again (rows to hold again)."""
    scope = scope_plans(site=incident.site)
    mine = {held.plan_esa_id: held for held in HeldPlan.objects.filter(incident=incident)}
    unfinished = scope.filter(status__in=UNFINISHED_PLAN_STATUSES).select_related("job")
    fresh: list[Plan] = []
    again: list[HeldPlan] = []
    for plan in unfinished.exclude(esa_id__in=held_plan_ids(besides=incident)):
        held = mine.get(plan.esa_id)
        if held is None:
            fresh.append(plan)
        elif held.state == StepState.DONE and _escaped(held, plan):
            held.hold_action = HoldAction.STOP if plan.status == PlanStatus.RUNNING else HoldAction.PARK
            held.state, held.attempts, held.rehold_count = StepState.PENDING, 0, held.rehold_count + 1
            held.plan = plan
            again.append(held)
    parked = _parked_before([plan for plan in fresh if plan.status == PlanStatus.WAITING]) if fresh else {}
    new = [_held_plan(incident, plan, FoundBy.SYNC, parked.get(plan.esa_id)) for plan in fresh]
    return new, again


def _enforce(incident: Incident) -> int:
    with transaction.atomic():
        # Looked at again under the lock: a resume may have passed a plan to this incident, or a
        # hold taken it, since the look without it.
        hold_changes_serialized()
        new, again = _escapes(incident)
        if not new and not again:
            return 0
        # Rows added, and the incident holding again: its page is drawn again as a whole.
        version = incident_version_next(incident_id=incident.pk, whole=True)
        for held in (*new, *again):
            held.version = version
        HeldPlan.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
        HeldPlan.objects.bulk_update(
            again, ["hold_action", "state", "attempts", "rehold_count", "plan", "version"]
        )
        Incident.objects.filter(pk=incident.pk, status=IncidentStatus.HELD).update(
            status=IncidentStatus.HOLDING, hold_done_at=None
        )
        incident_id = incident.pk
        transaction.on_commit(lambda: drainers_dispatch(incident_id=incident_id))
    logger.info(
        "incident %s: the sync found %d new and %d escaped plan(s) in the held scope",
        incident.pk,
        len(new),
        len(again),
    )
    return len(new) + len(again)


def _escaped(held: HeldPlan, plan: Plan) -> bool:
    """Whether a plan this incident held can submit URLs again."""
    if plan.status == PlanStatus.RUNNING:
        return True
    # Waiting again: restarted after a stop, or its window moved back from where it was parked.
    return plan.status == PlanStatus.WAITING and (
        held.hold_outcome != HoldOutcome.PARKED or plan.start_time != held.parked_start
    )


def incidents_sweep(*, now: datetime | None = None) -> list[int]:
    """Keep every open incident moving: send lost work again; returns the incidents touched."""
    now = now or timezone.now()
    touched: list[int] = []
    for incident in Incident.objects.filter(status__in=OPEN_INCIDENT_STATUSES):
        if incident.planned_at is None:
            if incident.held_at < now - UNPLANNED_AFTER:
                prepare_dispatch(incident_id=incident.pk)
                touched.append(incident.pk)
            continue
        lost_claims_release(incident_id=incident.pk, now=now)
        if HeldPlan.objects.filter(incident=incident, state=StepState.PENDING).exists():
            if drainers_dispatch(incident_id=incident.pk):
                touched.append(incident.pk)
        else:
            incident_settle(incident_id=incident.pk)
    return touched
