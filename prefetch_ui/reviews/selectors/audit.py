"""The audit log: every operation, and every incident's hold and resume, newest first in one list.

The entries live in two tables. Each is read as a `values()` queryset with the same columns in the
same order (annotations only, so no model field can put itself first), and a UNION ALL of them lets
the database filter, order, count and page the whole list: a page reads only its own rows. What the
rows name (people, sites, jobs, an incident's failures) is then read for the page at once, so a page
costs the same few queries however many rows it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import batched
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast

from prefetch_ui.incidents.models import HeldPlan, Incident, IncidentStatus, StepState
from prefetch_ui.prefetch.models import Job, Operation, OperationKind, OperationStatus, Site
from prefetch_ui.prefetch.plan_changes import PlanUpdateChanges, plan_update_changes
from prefetch_ui.web.display_zone import display_zone

INCIDENT_HOLD = "incident_hold"
INCIDENT_RESUME = "incident_resume"
AUDIT_KINDS: dict[str, str] = {
    **{kind.value: str(kind.label) for kind in OperationKind},
    INCIDENT_HOLD: "Hold (incident)",
    INCIDENT_RESUME: "Resume (incident)",
}
AUDIT_RESULTS: dict[str, str] = {status.value: str(status.label) for status in OperationStatus}
# A create's target_esa_id is the token of the form that asked, not an id anyone could look up.
_TOKEN_TARGET_KINDS = (OperationKind.JOB_CREATE, OperationKind.PLANS_CREATE)

_OPERATION = "operation"
_INCIDENT = "incident"
# Every part of the union selects these, in this order: UNION matches columns by position.
_COLUMNS = (
    "entry_at",
    "entry_source",
    "entry_pk",
    "entry_kind",
    "entry_result",
    "entry_actor_id",
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
_EXPORT_BATCH = 500

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


def _text(value: str) -> Value:
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
        entry_source=_text(_OPERATION),
        entry_pk=F("pk"),
        entry_kind=F("kind"),
        entry_result=F("status"),
        entry_actor_id=F("requested_by_id"),
        entry_site_id=F("site_id"),
        entry_job_id=F("job_id"),
        entry_target_esa_id=F("target_esa_id"),
        entry_target_label=F("target_label"),
        entry_error_code=F("error_code"),
        entry_error_message=F("error_message"),
        entry_request_id=F("request_id"),
        entry_reason=_text(""),
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
        When(status=IncidentStatus.HOLDING if hold else IncidentStatus.RESUMING, then=_text("running")),
        When(Exists(failed), then=_text("failed")),
        default=_text("succeeded"),
        output_field=CharField(),
    )
    entries: AuditEntries = incidents.annotate(
        entry_at=F("held_at" if hold else "resume_requested_at"),
        entry_source=_text(_INCIDENT),
        entry_pk=F("pk"),
        entry_kind=_text(kind),
        entry_result=result,
        entry_actor_id=F("held_by_id" if hold else "resumed_by_id"),
        entry_site_id=F("site_id"),
        entry_job_id=_null_id(),
        # An incident's target and failures are filled in per page (`audit_rows`).
        entry_target_esa_id=_text(""),
        entry_target_label=_text(""),
        entry_error_code=_text(""),
        entry_error_message=_text(""),
        entry_request_id=_text(""),
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


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One entry as the page and the CSV show it."""

    at: datetime
    kind: str
    actor: str  # username; "" when nobody is recorded (a deleted user)
    site: Site | None
    every_site: bool  # an incident whose hold covered every site
    target_label: str
    target_esa_id: str  # the ESA id the operation acted on; "" for creates and incidents
    job_esa_id: str  # the job's ESA id while the job is in the mirror (the page links to it), else ""
    incident_id: int | None
    operation_id: int | None
    result: str
    error_code: str
    error_message: str
    request_id: str
    failed_plans: int  # an incident entry's plans whose step failed
    reason: str = ""  # an incident's hold or resume: why, as the operator said it
    # An update of a plan: what it changed (None: any other entry, or an update recorded before
    # what it changed was kept).
    changes: PlanUpdateChanges | None = None

    @property
    def kind_label(self) -> str:
        return AUDIT_KINDS.get(self.kind, self.kind)

    @property
    def result_label(self) -> str:
        return AUDIT_RESULTS.get(self.result, self.result)

    @property
    def failed(self) -> bool:
        return self.result == OperationStatus.FAILED

    @property
    def site_label(self) -> str:
        if self.every_site:
            return "every site"
        return self.site.name if self.site is not None else ""


@dataclass(frozen=True, slots=True)
class _IncidentFailures:
    count: int
    first: HeldPlan


def _incident_failures(keys: set[tuple[int, str]]) -> dict[tuple[int, str], _IncidentFailures]:
    """For (incident id, "hold"|"resume"): how many steps failed in that phase, and the first of them."""
    if not keys:
        return {}
    phase = Case(
        When(resume_action="", then=_text("hold")), default=_text("resume"), output_field=CharField()
    )
    grouped = list(
        HeldPlan.objects.filter(
            incident_id__in={incident_id for incident_id, _ in keys}, state=StepState.FAILED
        )
        .annotate(phase=phase)
        .values_list("incident_id", "phase")
        .annotate(count=Count("pk"), first_pk=Min("pk"))
        .order_by()
    )
    firsts = HeldPlan.objects.only("error_code", "error_message", "request_id").in_bulk(
        [first_pk for *_, first_pk in grouped]
    )
    return {
        (incident_id, phase_name): _IncidentFailures(count=count, first=firsts[first_pk])
        for incident_id, phase_name, count, first_pk in grouped
    }


def audit_rows(entries: Iterable[Mapping[str, Any]]) -> list[AuditRow]:
    """Rows to show for `entries` (from `audit_entries`), with what they name read in bulk."""
    entries = list(entries)
    actor_ids = {entry["entry_actor_id"] for entry in entries} - {None}
    site_ids = {entry["entry_site_id"] for entry in entries} - {None}
    job_ids = {entry["entry_job_id"] for entry in entries} - {None}
    usernames = dict(User.objects.filter(pk__in=actor_ids).values_list("pk", "username")) if actor_ids else {}
    sites = Site.objects.in_bulk(site_ids) if site_ids else {}
    job_esa_ids = dict(Job.objects.filter(pk__in=job_ids).values_list("pk", "esa_id")) if job_ids else {}
    update_ids = [
        entry["entry_pk"]
        for entry in entries
        if entry["entry_source"] == _OPERATION and entry["entry_kind"] == OperationKind.PLAN_UPDATE
    ]
    changes = _plan_updates_changes(update_ids)
    failures = _incident_failures(
        {
            (entry["entry_pk"], "hold" if entry["entry_kind"] == INCIDENT_HOLD else "resume")
            for entry in entries
            if entry["entry_source"] == _INCIDENT and entry["entry_result"] == OperationStatus.FAILED
        }
    )
    return [
        _row(
            entry,
            usernames=usernames,
            sites=sites,
            job_esa_ids=job_esa_ids,
            failures=failures,
            changes=changes,
        )
        for entry in entries
    ]


def _plan_updates_changes(operation_ids: list[int]) -> dict[int, PlanUpdateChanges | None]:
    """What each of these updates of a plan changed, in one query (none when there are none)."""
    if not operation_ids:
        return {}
    recorded = Operation.objects.filter(pk__in=operation_ids).values_list("pk", "params", "result")
    return {pk: plan_update_changes(params=params, result=result) for pk, params, result in recorded}


def _row(
    entry: Mapping[str, Any],
    *,
    usernames: Mapping[int, str],
    sites: Mapping[int, Site],
    job_esa_ids: Mapping[int, str],
    failures: Mapping[tuple[int, str], _IncidentFailures],
    changes: Mapping[int, PlanUpdateChanges | None],
) -> AuditRow:
    site_id, kind, result = entry["entry_site_id"], entry["entry_kind"], entry["entry_result"]
    site = sites.get(site_id) if site_id is not None else None
    actor = usernames.get(entry["entry_actor_id"], "")
    if entry["entry_source"] == _OPERATION:
        # ESA's answer is shown for a failure only: a success's RequestId is noise in an audit.
        failed = result == OperationStatus.FAILED
        return AuditRow(
            at=entry["entry_at"],
            kind=kind,
            actor=actor,
            site=site,
            every_site=False,
            target_label=entry["entry_target_label"] or entry["entry_target_esa_id"],
            target_esa_id="" if kind in _TOKEN_TARGET_KINDS else entry["entry_target_esa_id"],
            job_esa_id=job_esa_ids.get(entry["entry_job_id"], ""),
            incident_id=None,
            operation_id=entry["entry_pk"],
            result=result,
            error_code=entry["entry_error_code"] if failed else "",
            error_message=entry["entry_error_message"] if failed else "",
            request_id=entry["entry_request_id"] if failed else "",
            failed_plans=0,
            changes=changes.get(entry["entry_pk"]),
        )
    incident_id: int = entry["entry_pk"]
    phase = "hold" if kind == INCIDENT_HOLD else "resume"
    scope = "every site" if site_id is None else (site.name if site is not None else "a deleted site")
    failure = failures.get((incident_id, phase))
    return AuditRow(
        at=entry["entry_at"],
        kind=kind,
        actor=actor,
        site=site,
        every_site=site_id is None,
        target_label=f"Incident #{incident_id}: {phase} of {scope}",
        target_esa_id="",
        job_esa_id="",
        incident_id=incident_id,
        operation_id=None,
        result=result,
        error_code=failure.first.error_code if failure else "",
        error_message=failure.first.error_message if failure else "",
        request_id=failure.first.request_id if failure else "",
        failed_plans=failure.count if failure else 0,
        reason=entry["entry_reason"] or "",
    )


def audit_actor_names() -> list[str]:
    """The usernames of everyone the audit log names, for its "who" filter."""
    named = (
        Exists(Operation.objects.filter(requested_by=OuterRef("pk")))
        | Exists(Incident.objects.filter(held_by=OuterRef("pk")))
        | Exists(Incident.objects.filter(resumed_by=OuterRef("pk")))
    )
    return list(User.objects.filter(named).order_by("username").values_list("username", flat=True))


AUDIT_CSV_HEADER = (
    "When",
    "Who",
    "What",
    "Kind",
    "Target",
    "Target ESA id",
    "Job ESA id",
    "Incident",
    "Site",
    "Site ESA id",
    "Result",
    "ESA code",
    "ESA message",
    "RequestId",
    "Failed plans",
    "Changes",
    "Reason",
)


def audit_export_rows(filters: AuditFilters) -> Iterator[tuple[object, ...]]:
    """Every entry matching `filters` as a CSV row under AUDIT_CSV_HEADER, read a batch at a time.

    An update's changes are one text whose times are ISO 8601 with their offset, as in every other
    column, in the display zone of the request that asked (read now: the rows are read later)."""
    return _export_rows(filters, zone=display_zone())


def _export_rows(filters: AuditFilters, *, zone: ZoneInfo) -> Iterator[tuple[object, ...]]:
    def moment(time: datetime | None) -> str:
        return time.astimezone(zone).isoformat(timespec="seconds") if time is not None else "?"

    for batch in batched(audit_entries(filters).iterator(chunk_size=_EXPORT_BATCH), _EXPORT_BATCH):
        for row in audit_rows(batch):
            yield (
                row.at,
                row.actor,
                row.kind_label,
                row.kind,
                row.target_label,
                row.target_esa_id,
                row.job_esa_id,
                row.incident_id,
                row.site_label,
                row.site.esa_id if row.site is not None else None,
                row.result,
                row.error_code,
                row.error_message,
                row.request_id,
                row.failed_plans if row.incident_id is not None else None,
                row.changes.text(moment) if row.changes is not None else "",
                row.reason,
            )
