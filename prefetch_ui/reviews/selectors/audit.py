"""The audit log: every operation, and every incident's hold and resume, newest first in one list.

The entries live in two tables. Each is read as a `values()` queryset with the same columns in the
same order (annotations only, so no model field can put itself first), and a UNION ALL of them lets
the database filter, order, count and page the whole list: a page reads only its own rows. What the
rows name (people, sites, jobs, an incident's failures) is then read for the page at once, so a page
costs the same few queries however many rows it shows (`audit_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import BigIntegerField, Case, CharField, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Cast

from prefetch_ui.incidents.models import HeldPlan, Incident, IncidentStatus, StepState
from prefetch_ui.prefetch.models import Operation, OperationKind, OperationStatus, Site

INCIDENT_HOLD = "incident_hold"
INCIDENT_RESUME = "incident_resume"
AUDIT_KINDS: dict[str, str] = {
    **{kind.value: str(kind.label) for kind in OperationKind},
    INCIDENT_HOLD: "Hold (incident)",
    INCIDENT_RESUME: "Resume (incident)",
}
AUDIT_RESULTS: dict[str, str] = {status.value: str(status.label) for status in OperationStatus}

# What an entry's `entry_source` says it is.
OPERATION_ENTRY = "operation"
INCIDENT_ENTRY = "incident"
# Every part of the union selects these, in this order: UNION matches columns by position.
_COLUMNS = (
    "entry_at",
    "entry_source",
    "entry_pk",
    "entry_kind",
    "entry_result",
    "entry_actor_id",
    "entry_actor_via",
    "entry_site_id",
    "entry_job_id",
    "entry_target_esa_id",
    "entry_target_label",
    "entry_error_code",
    "entry_error_message",
    "entry_request_id",
    "entry_reason",
)
# Newest first; the rest only makes the order of entries of the same instant stable across pages
# (a resume sorts before the hold it lifts).
_NEWEST_FIRST = ("-entry_at", "-entry_source", "-entry_kind", "-entry_pk")

type AuditEntries = QuerySet[Any, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """What the audit log is narrowed to; a field left empty does not narrow it."""

    actor: User | None = None
    kind: str = ""  # a key of AUDIT_KINDS
    result: str = ""  # a key of AUDIT_RESULTS
    # An incident on every site counts as one on this site: it held this site too.
    site: Site | None = None
    start: datetime | None = None  # entries at or after
    end: datetime | None = None  # entries before

    @property
    def narrowed(self) -> bool:
        return any((self.actor, self.kind, self.result, self.site, self.start, self.end))


def text_value(value: str) -> Value:
    return Value(value, output_field=CharField())


def _null_id() -> Cast:
    # Typed, so PostgreSQL need not guess the type of a bare NULL in a UNION.
    return Cast(Value(None), output_field=BigIntegerField())


def _operation_entries(filters: AuditFilters) -> AuditEntries:
    operations = Operation.objects.order_by()
    if filters.kind:
        operations = operations.filter(kind=filters.kind)
    if filters.site is not None:
        operations = operations.filter(site=filters.site)
    entries: AuditEntries = operations.annotate(
        entry_at=F("created_at"),
        entry_source=text_value(OPERATION_ENTRY),
        entry_pk=F("pk"),
        entry_kind=F("kind"),
        entry_result=F("status"),
        entry_actor_id=F("requested_by_id"),
        entry_actor_via=F("requested_via"),
        entry_site_id=F("site_id"),
        entry_job_id=F("job_id"),
        entry_target_esa_id=F("target_esa_id"),
        entry_target_label=F("target_label"),
        entry_error_code=F("error_code"),
        entry_error_message=F("error_message"),
        entry_request_id=F("request_id"),
        entry_reason=text_value(""),
    ).values(*_COLUMNS)
    return entries


def _failed_steps(phase: str) -> Q:
    """An incident's steps that failed in `phase`.

    A step's state is that of the incident's current phase, but the phases stay apart: the resume
    gives a step a resume action and clears its error, and a plan whose hold failed gets none.
    """
    failed = Q(state=StepState.FAILED)
    return failed & (Q(resume_action="") if phase == "hold" else ~Q(resume_action=""))


def _incident_entries(filters: AuditFilters, *, kind: str) -> AuditEntries:
    """An incident's hold (at held_at, by held_by) or its resume (when asked for, by resumed_by)."""
    hold = kind == INCIDENT_HOLD
    incidents = Incident.objects.order_by()
    if not hold:
        incidents = incidents.filter(resume_requested_at__isnull=False)
    if filters.site is not None:
        incidents = incidents.filter(Q(site=filters.site) | Q(site__isnull=True))
    failed = HeldPlan.objects.filter(_failed_steps("hold" if hold else "resume"), incident=OuterRef("pk"))
    result = Case(
        When(status=IncidentStatus.HOLDING if hold else IncidentStatus.RESUMING, then=text_value("running")),
        When(Exists(failed), then=text_value("failed")),
        default=text_value("succeeded"),
        output_field=CharField(),
    )
    entries: AuditEntries = incidents.annotate(
        entry_at=F("held_at" if hold else "resume_requested_at"),
        entry_source=text_value(INCIDENT_ENTRY),
        entry_pk=F("pk"),
        entry_kind=text_value(kind),
        entry_result=result,
        entry_actor_id=F("held_by_id" if hold else "resumed_by_id"),
        entry_actor_via=F("held_via" if hold else "resumed_via"),
        entry_site_id=F("site_id"),
        entry_job_id=_null_id(),
        # An incident's target and failures are filled in per page (`audit_rows`).
        entry_target_esa_id=text_value(""),
        entry_target_label=text_value(""),
        entry_error_code=text_value(""),
        entry_error_message=text_value(""),
        entry_request_id=text_value(""),
        # Why the operator held, or resumed (empty: not said).
        entry_reason=F("reason" if hold else "resume_reason"),
    ).values(*_COLUMNS)
    return entries


def audit_entries(filters: AuditFilters) -> AuditEntries:
    """The entries that match `filters`, newest first: plain column dicts, for a Paginator or export.

    Filters are applied inside each part of the union (a union itself cannot be filtered).
    """
    if filters.kind and filters.kind not in AUDIT_KINDS:
        raise ValueError(f"not a kind of audit entry: {filters.kind!r}")
    parts: list[AuditEntries] = []
    if not filters.kind or filters.kind in OperationKind.values:
        parts.append(_operation_entries(filters))
    for kind in (INCIDENT_HOLD, INCIDENT_RESUME):
        if not filters.kind or filters.kind == kind:
            parts.append(_incident_entries(filters, kind=kind))
    common = Q()
    if filters.actor is not None:
        common &= Q(entry_actor_id=filters.actor.pk)
    if filters.result:
        common &= Q(entry_result=filters.result)
    if filters.start is not None:
        common &= Q(entry_at__gte=filters.start)
    if filters.end is not None:
        common &= Q(entry_at__lt=filters.end)
    first, *others = [part.filter(common) for part in parts]
    if others:
        first = first.union(*others, all=True)
    return first.order_by(*_NEWEST_FIRST)


def audit_actor_names() -> list[str]:
    """The usernames of everyone the audit log names, for its "who" filter."""
    named = (
        Exists(Operation.objects.filter(requested_by=OuterRef("pk")))
        | Exists(Incident.objects.filter(held_by=OuterRef("pk")))
        | Exists(Incident.objects.filter(resumed_by=OuterRef("pk")))
    )
    return list(User.objects.filter(named).order_by("username").values_list("username", flat=True))
