"""/api/v1/incidents: the incidents pages' reads and actions, through their selectors and services.

Reads need the `read` scope; holding, resuming and retrying need `incidents`, which a token keeps
only while its owner may act on the pages (`prefetch.operate`, checked at each call by
`TokenAuth`: a token never has more than its owner). Each action names the token as who asked
("token NAME of USER"), as the audit log and the incident's page then show it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from ninja import Query, Router, Status

from prefetch_ui.incidents import selectors
from prefetch_ui.incidents.models import (
    HeldPlan,
    HoldOutcome,
    Incident,
    IncidentStatus,
    ResumeOutcome,
    StepState,
)
from prefetch_ui.incidents.services import resumes
from prefetch_ui.incidents.services.holds import hold_request
from prefetch_ui.incidents.services.resumes import IncidentStateError, RampRefused, ResumePreview
from prefetch_ui.incidents.services.steps import steps_retry_failed
from prefetch_ui.prefetch.models import Site
from prefetch_ui.web.request_ids import id_number

from .auth import TokenAuth
from .errors import ApiError, ApiErrorOut, not_found
from .idempotency import IDEMPOTENCY_OPENAPI
from .lists import REFUSALS, page_facts, page_of, token_via
from .models import ApiToken, Scope
from .quota_checks import quota_check_out
from .schemas import PageQuery
from .schemas_incidents import (
    HeldPlanPageOut,
    HoldIn,
    HoldOut,
    IncidentDetailOut,
    IncidentListQuery,
    IncidentPageOut,
    ResumeIn,
    ResumeOut,
    ResumePreviewOut,
    RetryOut,
)

router = Router(tags=["incidents"])

_ACTS = TokenAuth(Scope.INCIDENTS)
_ACT_REFUSALS: dict[int, Any] = {**REFUSALS, 409: ApiErrorOut}
# The page's words for an outcome, back to the stable value a client branches on.
_OUTCOME_VALUES = {
    str(label): value for enum in (HoldOutcome, ResumeOutcome) for value, label in enum.choices
}


def _incident(incident_id: str) -> Incident:
    number = id_number(incident_id)
    incident = (
        Incident.objects.select_related("site", "held_by", "resumed_by").filter(pk=number).first()
        if number is not None
        else None
    )
    if incident is None:
        raise not_found(field="incident_id", what="incident")
    return incident


def _incident_out(incident: Incident) -> dict[str, object]:
    plan_total = getattr(incident, "plan_total", None)
    plan_failed = getattr(incident, "plan_failed", None)
    if plan_total is None or plan_failed is None:
        plan_total = HeldPlan.objects.filter(incident=incident).count()
        plan_failed = HeldPlan.objects.filter(incident=incident, state=StepState.FAILED).count()
    return {
        "id": incident.pk,
        "site_id": incident.site.esa_id if incident.site is not None else None,
        "scope": incident.scope_label,
        "status": incident.status,
        "phase": incident.phase,
        "reason": incident.reason,
        "held_by": incident.held_by_label,
        "held_at": incident.held_at,
        "hold_done_at": incident.hold_done_at,
        "resumed_by": incident.resumed_by_label if incident.resume_requested_at is not None else None,
        "resume_requested_at": incident.resume_requested_at,
        "resumed_at": incident.resumed_at,
        "resume_reason": incident.resume_reason,
        "resume_caps": incident.resume_caps,
        "plan_total": plan_total,
        "plan_failed": plan_failed,
    }


def _incident_detail(incident: Incident) -> dict[str, object]:
    """The incident as its page shows it: who, why, its progress and its failures."""
    incident.refresh_from_db()
    working = incident.status in (IncidentStatus.HOLDING, IncidentStatus.RESUMING)
    progress = selectors.incident_progress(incident)
    return {
        **_incident_out(incident),
        "working": working,
        # Only asked while there is work to do, as on the page: "no worker" matters only then.
        "workers": selectors.incident_workers_consuming() if working else None,
        "progress": {
            "phase": progress.phase,
            "total": progress.total,
            "settled": progress.settled,
            "unsettled": progress.unsettled,
            "failed": progress.failed,
            "outcomes": {
                _OUTCOME_VALUES.get(label, label): count for label, count in progress.outcomes.items()
            },
            "found_by_sync": progress.found_by_sync,
            "reholds": progress.reholds,
            "passed_in": progress.passed_in,
        },
        "failures": [
            {
                "plan_id": held.plan_esa_id,
                "job_id": held.job_esa_id,
                "site_id": held.site.esa_id,
                "label": held.label,
                "attempts": held.attempts,
                "error_code": held.error_code,
                "error_message": held.error_message,
                "request_id": held.request_id,
            }
            for held in selectors.incident_failures(incident)
        ],
    }


@router.get(
    "/incidents",
    url_name="api-incidents",
    response={200: IncidentPageOut, **REFUSALS},
)
def incidents(request: HttpRequest, query: Query[IncidentListQuery]) -> dict[str, object]:
    """Incidents, newest first, a page at a time; `status` and `site` narrow them."""
    listed = selectors.incident_list()
    if query.status:
        listed = listed.filter(status=query.status)
    if query.site is not None:
        site = Site.objects.filter(esa_id=query.site).first()
        if site is None:
            raise ApiError(status=422, code="invalid", message="site: no site with this id.", field="site")
        listed = listed.filter(Q(site=site) | Q(site__isnull=True))
    page = page_of(listed, query)
    return {**page_facts(page), "items": [_incident_out(incident) for incident in page.object_list]}


@router.post(
    "/incidents/hold",
    url_name="api-incident-hold",
    openapi_extra=IDEMPOTENCY_OPENAPI,
    response={200: HoldOut, 201: HoldOut, **REFUSALS},
    auth=_ACTS,
)
def hold(request: HttpRequest, payload: HoldIn) -> Status[dict[str, object]]:
    """Hold all prefetch on a site (`site_id`), or on every site (`site_id`: null), as the hold
    page does: 201 with the new incident, or 200 with the incident that holds the scope already,
    which this request joins. Workers stop the running plans and park the waiting ones.

    Declared before /incidents/{incident_id}: its address would take "hold" for an id."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    site = None
    if payload.site_id is not None:
        site = Site.objects.filter(esa_id=payload.site_id).first()
        if site is None:
            raise not_found(field="site_id", what="site")
    held, created = hold_request(user=token.user, site=site, reason=payload.reason, via=token_via(token))
    return Status(201 if created else 200, {"created": created, "incident": _incident_detail(held)})


@router.get(
    "/incidents/{incident_id}",
    url_name="api-incident",
    response={200: IncidentDetailOut, **REFUSALS},
)
def incident(request: HttpRequest, incident_id: str) -> dict[str, object]:
    """One incident: its scope, status and phase, who held and resumed it and why, its plans
    counted by what was done to them, and its failed steps with ESA's code and RequestId."""
    return _incident_detail(_incident(incident_id))


@router.get(
    "/incidents/{incident_id}/plans",
    url_name="api-incident-plans",
    response={200: HeldPlanPageOut, **REFUSALS},
)
def incident_plans(request: HttpRequest, incident_id: str, query: Query[PageQuery]) -> dict[str, object]:
    """The plans the incident touched, in the order its workers take them, a page at a time."""
    page = page_of(selectors.incident_held_plans(_incident(incident_id)).select_related("site"), query)
    return {
        **page_facts(page),
        "items": [
            {
                "plan_id": held.plan_esa_id,
                "job_id": held.job_esa_id,
                "site_id": held.site.esa_id,
                "label": held.label,
                "found_by": held.found_by,
                "original_status": held.original_status,
                "original_start": held.original_start,
                "original_end": held.original_end,
                "hold_action": held.hold_action,
                "hold_outcome": held.hold_outcome,
                "resume_action": held.resume_action,
                "resume_outcome": held.resume_outcome,
                "state": held.state,
                "attempts": held.attempts,
                "error_code": held.error_code,
                "request_id": held.request_id,
            }
            for held in page.object_list
        ],
    }


def _preview_out(incident: Incident, preview: ResumePreview, payload: ResumeIn) -> dict[str, object]:
    counts = preview.counts
    windows = {key: window for load in preview.loads for key, window in load.windows.items()}
    quotas = {check.site.pk: check for check in selectors.resume_quota_checks(preview=preview)}

    def peak(moment: tuple[Any, int] | None) -> dict[str, object] | None:
        return None if moment is None else {"at": moment[0], "urls": moment[1]}

    return {
        "incident_id": incident.pk,
        "incident_status": incident.status,
        "reschedule": preview.reschedule,
        "pace": payload.pace,
        "laid_out_at": preview.now,
        "counts": {
            "start": counts["start"],
            "restore": counts["restore"],
            "reschedule": counts["reschedule"],
            "leave": counts["leave"],
            "stays_held": counts["pass"],
            "windows_ended": counts["passed"],
            "not_held": len(preview.not_held),
            "to_send": preview.to_send,
        },
        "stays_held": [
            {"incident_id": stays.incident.pk, "scope": stays.incident.scope_label, "plans": stays.count}
            for stays in preview.stays_held
        ],
        "loads": [
            {
                "site_id": load.site.esa_id,
                "site_name": load.site.name,
                "plans": load.plans,
                "before": peak(load.before),
                "as_it_was": peak(load.as_it_was),
                "default_cap": load.default_cap,
                "least_cap": load.least_cap,
                "cap": load.cap,
                "ramped": peak(load.ramped),
                "last_start": load.last_start,
                "error": load.error,
                "quota": quota_check_out(quotas.get(load.site.pk), scope="resume", ramp=preview.ramp),
            }
            for load in preview.loads
        ],
        "errors": preview.ramp_errors,
        "plans": [
            {
                "plan_id": line.held.plan_esa_id,
                "job_id": line.held.job_esa_id,
                "label": line.held.label,
                "action": line.action.value,
                "note": line.note,
                "window_ended": line.window_passed,
                "original_start": line.held.original_start,
                "original_end": line.held.original_end,
                "ramp_start": windows[line.held.plan_esa_id][0] if line.held.plan_esa_id in windows else None,
                "ramp_end": windows[line.held.plan_esa_id][1] if line.held.plan_esa_id in windows else None,
                "stays_with": line.stays_with.pk if line.stays_with is not None else None,
            }
            for line in preview.lines
        ],
    }


def _caps_checked(preview: ResumePreview, payload: ResumeIn) -> None:
    """A cap for a site the resume puts nothing back on is refused, as the page refuses it."""
    if payload.ramp_caps is None:
        if payload.caps:
            raise ApiError(
                status=422,
                code="invalid",
                message="caps: caps pace a ramp; with pace as_it_was every plan is put back at once.",
                field="caps",
            )
        return
    shown = {load.site.esa_id for load in preview.loads}
    if extra := sorted(set(payload.ramp_caps) - shown):
        raise ApiError(
            status=422,
            code="invalid",
            message=f"caps: no plan of site {extra[0]} is put back: it takes no cap. Nothing was resumed.",
            field="caps",
        )


@router.post(
    "/incidents/{incident_id}/resume/preview",
    url_name="api-incident-resume-preview",
    openapi_extra=IDEMPOTENCY_OPENAPI,
    response={200: ResumePreviewOut, **REFUSALS},
)
def resume_preview(request: HttpRequest, incident_id: str, payload: ResumeIn) -> dict[str, object]:
    """What a resume with these settings would do, as the resume page shows it: each held plan's
    action, each site's origin load before the hold, as it was and under the ramp, and the counts.
    Changes nothing (scope `read`); a cap no ramp keeps is listed in `errors`, naming its site."""
    found = _incident(incident_id)
    preview = resumes.resume_preview(incident=found, reschedule=payload.reschedule, caps=payload.ramp_caps)
    _caps_checked(preview, payload)
    return _preview_out(found, preview, payload)


@router.post(
    "/incidents/{incident_id}/resume",
    url_name="api-incident-resume",
    openapi_extra=IDEMPOTENCY_OPENAPI,
    response={200: ResumeOut, **_ACT_REFUSALS},
    auth=_ACTS,
)
def resume(request: HttpRequest, incident_id: str, payload: ResumeIn) -> dict[str, object]:
    """Resume what the incident holds, as the resume page does: 409 while its hold is still being
    applied (or once it is resumed), 422 naming the site when a cap is one no ramp keeps; in
    both cases nothing is resumed. Answers with what was planned, and the incident."""
    token: ApiToken = request.auth  # type: ignore[attr-defined]
    found = _incident(incident_id)
    _caps_checked(
        resumes.resume_preview(incident=found, reschedule=payload.reschedule, caps=payload.ramp_caps), payload
    )
    try:
        planned = resumes.resume_request(
            user=token.user,
            incident=found,
            reschedule=payload.reschedule,
            reason=payload.reason,
            caps=payload.ramp_caps,
            shown_at=payload.shown_at,
            via=token_via(token),
        )
    except RampRefused as error:
        raise ApiError(status=422, code="ramp_refused", message=str(error), field="caps") from None
    except IncidentStateError as error:
        raise ApiError(status=409, code="incident_not_held", message=str(error)) from None
    detail = _incident_detail(found)  # read again first: the answer says "resuming"
    return {**_preview_out(found, planned, payload), "incident": detail}


@router.post(
    "/incidents/{incident_id}/retry",
    url_name="api-incident-retry",
    openapi_extra=IDEMPOTENCY_OPENAPI,
    response={200: RetryOut, **_ACT_REFUSALS},
    auth=_ACTS,
)
def retry(request: HttpRequest, incident_id: str) -> dict[str, object]:
    """Send the failed steps of the incident's current phase again, as the page's retry does;
    409 when none failed (nothing is sent)."""
    found = _incident(incident_id)
    count = steps_retry_failed(incident=found)
    if not count:
        raise ApiError(
            status=409,
            code="nothing_to_retry",
            message=f"Incident #{found.pk} has no failed plans to send again; nothing was sent.",
        )
    return {"sent_again": count, "incident": _incident_detail(found)}
