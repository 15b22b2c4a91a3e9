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
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from prefetch_ui.prefetch.models import UNFINISHED_PLAN_STATUSES, Plan, PlanStatus, Site
from prefetch_ui.prefetch.services.changes import hold_scope_changed

from ..models import (
    HOLD_ACTIVE_STATUSES,
    OPEN_INCIDENT_STATUSES,
    FoundBy,
    HeldPlan,
    HoldAction,
    HoldOutcome,
    Incident,
    IncidentStatus,
    StepState,
)
from .changes import incident_version_next
from .steps import drainers_dispatch, incident_settle, lost_claims_release

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser
# Past this, an incident whose plans were never listed is presumed to have lost its task.
UNPLANNED_AFTER = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class HoldPreview:
    """What a hold of this scope will do, from the mirror, before anything is sent."""

    running: int  # will be stopped
    waiting: int  # will be parked
    finished: int  # finished or failed: nothing to do
    stopped: int  # stopped before the hold: left as they are (and not started by the resume)
    held_elsewhere: int  # already held by another open incident
    sites: int
    held_by: Incident | None  # an open incident that already holds this whole scope

    @property
    def to_touch(self) -> int:
        return self.running + self.waiting


def _scope_plans(site: Site | None) -> QuerySet[Plan]:
    plans = Plan.objects.all()
    return plans.filter(job__site=site) if site is not None else plans


def held_plan_ids(*, besides: Incident | None = None) -> QuerySet[HeldPlan, Any]:
    """The ESA ids of the plans an open incident holds, or is about to (other than `besides`)."""
    held = HeldPlan.objects.filter(incident__status__in=OPEN_INCIDENT_STATUSES).exclude(
        hold_outcome__in=(HoldOutcome.ALREADY_FINISHED, HoldOutcome.GONE, HoldOutcome.REFUSED)
    )
    if besides is not None:
        held = held.exclude(incident=besides)
    return held.values("plan_esa_id")


def scope_site_ids(site: Site | None) -> list[int]:
    """The sites a hold of `site` (None: every site) covers."""
    return [site.pk] if site is not None else list(Site.objects.values_list("pk", flat=True))


def hold_covering(site: Site | None) -> Incident | None:
    """The open incident that already holds all of `site` (or of every site), if any."""
    open_holds = Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).select_related("site", "held_by")
    if site is None:
        return open_holds.filter(site__isnull=True).first()
    # The site's own hold before one of every site (NULL sorts first on SQLite, last on PostgreSQL).
    own_first = F("site_id").asc(nulls_last=True)
    return open_holds.filter(Q(site__isnull=True) | Q(site=site)).order_by(own_first).first()


def hold_preview(site: Site | None) -> HoldPreview:
    plans = _scope_plans(site)
    counts = plans.aggregate(
        running=Count("pk", filter=Q(status=PlanStatus.RUNNING)),
        waiting=Count("pk", filter=Q(status=PlanStatus.WAITING)),
        finished=Count("pk", filter=Q(status__in=(PlanStatus.FINISHED, PlanStatus.FAILED))),
        stopped=Count("pk", filter=Q(status=PlanStatus.STOPPED)),
    )
    held_elsewhere = plans.filter(esa_id__in=held_plan_ids(), status__in=UNFINISHED_PLAN_STATUSES).count()
    return HoldPreview(
        running=counts["running"],
        waiting=counts["waiting"],
        finished=counts["finished"],
        stopped=counts["stopped"],
        held_elsewhere=held_elsewhere,
        sites=1 if site is not None else Site.objects.count(),
        held_by=hold_covering(site),
    )


def hold_request(*, user: User, site: Site | None, reason: str) -> tuple[Incident, bool]:
    """Record a hold of `site` (None: every site) and send it to the workers once committed.

    Returns the incident and whether it is new: a scope already held joins the incident holding it.
    """
    with transaction.atomic():
        _wait_for_other_hold_requests()
        if existing := hold_covering(site):
            return existing, False
        incident = Incident.objects.create(
            site=site, reason=reason.strip(), held_by_id=user.pk if user.is_authenticated else None
        )
        # Every job page of the scope stops offering Start, Edit, Reset and Add plans.
        hold_scope_changed(site_ids=scope_site_ids(site))
        incident_id = incident.pk
        transaction.on_commit(lambda: prepare_dispatch(incident_id))
    return incident, True


# Names the lock below among the database's advisory locks (any number nothing else takes).
_HOLD_REQUESTS_LOCK = 7_001


def _wait_for_other_hold_requests() -> None:
    """Until this transaction ends, no other hold request gets past this point.

    Two clicks at once must not both find no hold covering their scope and both start one. SQLite
    runs one writing transaction at a time (settings: IMMEDIATE) and needs nothing more; PostgreSQL
    runs them side by side, so the requests queue on a transaction-scoped advisory lock (no row to
    lock stands for "a scope"; holding every site's row would wait on the sync, and deadlock with it).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_HOLD_REQUESTS_LOCK])


def prepare_dispatch(incident_id: int) -> None:
    from ..tasks import hold_prepare_task

    try:
        hold_prepare_task.apply_async((incident_id,), queue="incidents")
    except Exception:  # the broker's errors have no common base; the sweep sends it again
        logger.warning("could not send the hold of incident %s; the sweep will", incident_id, exc_info=True)


def _held_plan(incident: Incident, plan: Plan, found_by: FoundBy) -> HeldPlan:
    running = plan.status == PlanStatus.RUNNING
    return HeldPlan(
        incident=incident,
        plan=plan,
        plan_esa_id=plan.esa_id,
        job_esa_id=plan.job.esa_id,
        site_id=plan.job.site_id,
        label=f"{plan.job.name} / plan …{plan.short_id}"[:255],
        found_by=found_by,
        original_status=plan.status,
        original_start=plan.start_time,
        original_end=plan.end_time,
        interval=plan.interval,
        slice_len=plan.slice_len,
        hold_action=HoldAction.STOP if running else HoldAction.PARK,
        # Running plans submit URLs now: they go first.
        priority=0 if running else 1,
    )


def hold_prepare(incident_id: int) -> int:
    """List the plans the hold must touch, as steps, and send drainers. Idempotent."""
    with transaction.atomic():
        # Only the incident's row: its site is on the nullable side of an outer join (None: every
        # site), which PostgreSQL refuses to lock.
        incident = Incident.objects.select_for_update(of=("self",)).select_related("site").get(pk=incident_id)
        if incident.planned_at is not None or incident.status != IncidentStatus.HOLDING:
            return 0
        plans = (
            _scope_plans(incident.site)
            .filter(status__in=UNFINISHED_PLAN_STATUSES)
            .exclude(esa_id__in=held_plan_ids())
            .select_related("job")
        )
        # The page lists its plans (it said they were being listed): drawn again as a whole.
        version = incident_version_next(incident_id, whole=True)
        steps = [_held_plan(incident, plan, FoundBy.HOLD) for plan in plans.iterator(chunk_size=2000)]
        for step in steps:
            step.version = version
        HeldPlan.objects.bulk_create(steps, batch_size=1000, ignore_conflicts=True)
        Incident.objects.filter(pk=incident_id).update(planned_at=timezone.now())
        transaction.on_commit(lambda: _after_planning(incident_id))
    return len(steps)


def _after_planning(incident_id: int) -> None:
    incident_settle(incident_id)  # a scope with nothing to hold is held at once
    drainers_dispatch(incident_id)


def holds_enforce(*, now: datetime | None = None) -> int:
    """While a hold is active, hold what started in its scope since; returns the steps added.

    Called after each sync: a plan created or started in the ESA console, a plan someone moved back
    from where the hold parked it, a settled plan restarted by a job reset. Each is recorded on the
    incident (found by the sync, or held again).
    """
    added = 0
    for incident in Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES, planned_at__isnull=False):
        added += _enforce(incident)
    return added


def _enforce(incident: Incident) -> int:
    scope = _scope_plans(incident.site)
    mine = {held.plan_esa_id: held for held in HeldPlan.objects.filter(incident=incident)}
    unfinished = scope.filter(status__in=UNFINISHED_PLAN_STATUSES).select_related("job")
    new: list[HeldPlan] = []
    again: list[HeldPlan] = []
    for plan in unfinished.exclude(esa_id__in=held_plan_ids(besides=incident)):
        held = mine.get(plan.esa_id)
        if held is None:
            new.append(_held_plan(incident, plan, FoundBy.SYNC))
        elif held.state == StepState.DONE and _escaped(held, plan):
            held.hold_action = HoldAction.STOP if plan.status == PlanStatus.RUNNING else HoldAction.PARK
            held.state, held.attempts, held.rehold_count = StepState.PENDING, 0, held.rehold_count + 1
            held.plan = plan
            again.append(held)
    if not new and not again:
        return 0
    with transaction.atomic():
        # Rows added, and the incident holding again: its page is drawn again as a whole.
        version = incident_version_next(incident.pk, whole=True)
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
        transaction.on_commit(lambda: drainers_dispatch(incident_id))
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
                prepare_dispatch(incident.pk)
                touched.append(incident.pk)
            continue
        lost_claims_release(incident.pk, now=now)
        if HeldPlan.objects.filter(incident=incident, state=StepState.PENDING).exists():
            if drainers_dispatch(incident.pk):
                touched.append(incident.pk)
        else:
            incident_settle(incident.pk)
    return touched
