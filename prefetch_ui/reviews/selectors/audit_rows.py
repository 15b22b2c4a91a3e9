"""The audit log's rows as the page and the CSV show them: what each entry names (people, sites,
jobs, an incident's failures) read for a page at once, and the CSV export read a batch at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import batched
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db.models import Case, CharField, Count, Min, When

from prefetch_ui.incidents.models import HeldPlan, StepState
from prefetch_ui.prefetch.models import Job, Operation, OperationKind, OperationStatus, Site
from prefetch_ui.prefetch.plan_changes import PlanUpdateChanges, plan_update_changes
from prefetch_ui.web.display_zone import display_zone

from .audit import (
    AUDIT_KINDS,
    AUDIT_RESULTS,
    INCIDENT_ENTRY,
    INCIDENT_HOLD,
    OPERATION_ENTRY,
    AuditFilters,
    audit_entries,
    text_value,
)

# A create's target_esa_id is the token of the form that asked, not an id anyone could look up.
_TOKEN_TARGET_KINDS = (OperationKind.JOB_CREATE, OperationKind.PLANS_CREATE)
_EXPORT_BATCH = 500


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One entry as the page and the CSV show it."""

    at: datetime
    kind: str
    actor: str  # username, or "token NAME of USER" / "alert NAME via receiver R"; "": a deleted user
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
        When(resume_action="", then=text_value("hold")),
        default=text_value("resume"),
        output_field=CharField(),
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
        if entry["entry_source"] == OPERATION_ENTRY and entry["entry_kind"] == OperationKind.PLAN_UPDATE
    ]
    changes = _plan_updates_changes(update_ids)
    failures = _incident_failures(
        {
            (entry["entry_pk"], "hold" if entry["entry_kind"] == INCIDENT_HOLD else "resume")
            for entry in entries
            if entry["entry_source"] == INCIDENT_ENTRY and entry["entry_result"] == OperationStatus.FAILED
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
    # An API token or an alert is named as such ("token NAME of USER"), a person by username.
    actor = entry["entry_actor_via"] or usernames.get(entry["entry_actor_id"], "")
    if entry["entry_source"] == OPERATION_ENTRY:
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
