"""Holds that overlap: which open incident holds a plan, which active hold covers a site, and
passing a held plan from one incident to another.

A plan is held by at most one incident at a time (`models.holding_now`). Several holds may cover
its site at once (a hold of the site, a hold of every site): the plan stays held while any of them
is active. When the incident holding it resumes while another still covers the site, the plan is
not put back: it passes to the incident that still covers it, which puts it back when it resumes
(or passes it on again). The site's own hold is preferred to a hold of every site, so a site held
for its own reasons keeps the plans it would inherit.

Every change of who holds what runs under one lock (`hold_changes_serialized`): a hold requested,
a resume requested, a drainer deciding to put a plan back, the sync holding what started. Without
it a resume could put back a plan in the instant a new hold was looking for what to hold.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet

from prefetch_ui.prefetch.models import Plan, Site

from ..models import (
    HOLD_ACTIVE_STATUSES,
    FoundBy,
    HeldPlan,
    HoldAction,
    Incident,
    IncidentStatus,
    ResumeAction,
    ResumeOutcome,
    StepState,
    holding_now,
)
from .changes import incident_version_next

# Names the lock below among the database's advisory locks (any number nothing else takes).
_HOLD_CHANGES_LOCK = 7_001


def hold_changes_serialized() -> None:
    """Until this transaction ends, no other change of who holds what gets past this point.

    Two clicks at once must not both find no hold of their scope and both start one; a resume must
    not put a plan back while a new hold lists what to hold. SQLite runs one writing transaction at
    a time (settings: IMMEDIATE) and needs nothing more; PostgreSQL runs them side by side, so they
    queue on a transaction-scoped advisory lock (no row to lock stands for "a scope"; holding every
    site's row would wait on the sync, and deadlock with it).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the hold lock is taken in the transaction that changes the holds")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_HOLD_CHANGES_LOCK])


def scope_plans(*, site: Site | None) -> QuerySet[Plan]:
    """The mirror's plans of a hold's scope (None: every site)."""
    plans = Plan.objects.all()
    return plans.filter(job__site=site) if site is not None else plans


def scope_site_ids(*, site: Site | None) -> list[int]:
    """The sites a hold of `site` (None: every site) covers."""
    return [site.pk] if site is not None else list(Site.objects.values_list("pk", flat=True))


def held_plan_ids(*, besides: Incident | None = None) -> QuerySet[HeldPlan, Any]:
    """The ESA ids of the plans an open incident holds now, or is about to (other than `besides`)."""
    held = HeldPlan.objects.filter(holding_now())
    if besides is not None:
        held = held.exclude(incident=besides)
    return held.values("plan_esa_id")


def hold_of_scope(*, site: Site | None) -> Incident | None:
    """The active hold of exactly this scope (`site`, or every site), if any: a second hold of it joins it."""
    holds = Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).select_related("site", "held_by")
    return holds.filter(site__isnull=True).first() if site is None else holds.filter(site=site).first()


def hold_covering(*, site_id: int, besides: Incident | int | None = None) -> Incident | None:
    """The active hold that covers the site: its own hold first, else a hold of every site."""
    holds = Incident.objects.filter(
        Q(site__isnull=True) | Q(site_id=site_id), status__in=HOLD_ACTIVE_STATUSES
    )
    if besides is not None:
        holds = holds.exclude(pk=besides.pk if isinstance(besides, Incident) else besides)
    # The site's own hold before one of every site (NULL sorts first on SQLite, last on PostgreSQL).
    return holds.select_related("site").order_by(F("site_id").asc(nulls_last=True), "held_at", "pk").first()


def held_plan_pass(
    *, held: HeldPlan, to: Incident, version: int, pending_hold: HoldAction | None = None
) -> None:
    """`held`'s plan goes on being held, by `to`: a row of `to` with the plan's original state.

    Without `pending_hold`, the plan is held as it is (stopped or parked, as `held` left it): the
    row is done, nothing is sent. With it, the plan was put back by `held`'s resume in the instant
    `to` began: `to` holds it again with that action (its drainers make the call). The caller
    records `held`'s own outcome, takes the lock and `to`'s version (`version`) in its transaction.
    """
    row = HeldPlan(
        incident=to,
        plan_id=held.plan_id,
        plan_esa_id=held.plan_esa_id,
        job_esa_id=held.job_esa_id,
        site_id=held.site_id,
        label=held.label,
        found_by=FoundBy.PASSED,
        passed_from_id=held.incident_id,
        original_status=held.original_status,
        original_start=held.original_start,
        original_end=held.original_end,
        interval=held.interval,
        slice_len=held.slice_len,
        priority=held.priority,
        version=version,
    )
    if pending_hold is None:
        row.hold_action, row.hold_outcome = held.hold_action, held.hold_outcome
        row.parked_start, row.parked_end = held.parked_start, held.parked_end
        row.state = StepState.DONE
    else:
        row.hold_action, row.state = pending_hold, StepState.PENDING
        row.priority = 0 if pending_hold == HoldAction.STOP else 1
    existing = HeldPlan.objects.filter(incident=to, plan_esa_id=held.plan_esa_id).first()
    if existing is None:
        row.save(force_insert=True)
    elif not HeldPlan.objects.filter(holding_now(), pk=existing.pk).exists():
        # `to` met this plan before and let it go (it had finished, or was deleted): it holds it now.
        row.pk, row.rehold_count, row.calls = existing.pk, existing.rehold_count, existing.calls
        row.save(force_update=True)
    # Else `to` holds it already (its own hold listed the plan in the same instant): one row is enough.


def pass_note(*, to: Incident) -> str:
    """What a resume line says of a plan that stays held."""
    return f"stays held by incident #{to.pk} ({to.scope_label}), which puts it back when it resumes"


def resuming_steps_take_over(*, incident: Incident) -> set[int]:
    """A new hold takes over, from incidents being resumed, the plans of its scope they have not put
    back yet: those are still stopped or parked in ESA, and stay so. Returns the incidents it took
    plans from (the caller settles them once committed: they may have nothing left to do).

    The caller holds the lock, in the transaction that records `incident`."""
    pending = HeldPlan.objects.filter(
        incident__status=IncidentStatus.RESUMING, state=StepState.PENDING, resume_outcome=""
    ).exclude(resume_action__in=("", ResumeAction.LEAVE))
    if incident.site_id is not None:
        pending = pending.filter(site_id=incident.site_id)
    taken = list(pending.select_related("incident"))
    if not taken:
        return set()
    version = incident_version_next(incident_id=incident.pk, whole=True)
    for held in taken:
        held_plan_pass(held=held, to=incident, version=version)
    for resuming in {held.incident_id for held in taken}:
        resumed_version = incident_version_next(incident_id=resuming, whole=True)
        HeldPlan.objects.filter(pk__in=[h.pk for h in taken if h.incident_id == resuming]).update(
            state=StepState.DONE,
            resume_action=ResumeAction.PASS,
            resume_outcome=ResumeOutcome.PASSED,
            resume_note=pass_note(to=incident)[:255],
            passed_to=incident,
            version=resumed_version,
        )
    return {held.incident_id for held in taken}
