"""/api/v1/ writes (scope `operate`): start, stop, edit and delete a plan; reset and delete a job;
create a job on a site and a batch of plans on a job; read an operation (scope `read`) and retry a
failed one.

Each is what the pages do, through the same services and under the same rules: a held site starts,
resets and adds nothing (409 `site_held`), a finished or failed plan is not edited (409
`plan_not_editable`), only a stopped plan starts and only a running one stops (as the job page
offers), URLs are checked as the new-job page checks them. An action is recorded as an operation
that a worker carries out, so every write answers 202 with it: poll GET /operations/{id} until its
`status` is `succeeded` or `failed` (then with ESA's `esa_code` and `esa_request_id`). A refusal
records nothing. The audit log names the caller "token NAME of USER".

Every write honours `Idempotency-Key` (`idempotency`). A create needs more than that: the pages key
a create by their form's token, so that a second submit joins the first and a finished create is
never sent again. Here that key is derived from the token and the Idempotency-Key (a retry days
later still finds the first create: 409 `already_sent`), or, without one, made anew: each such
request creates.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router

from prefetch_ui.esa import PlanSpec
from prefetch_ui.planning.local_time import past_start_error
from prefetch_ui.planning.plan_math import PlanDraft
from prefetch_ui.planning.url_lists import OssUrlError, check_oss_url, check_url_list
from prefetch_ui.prefetch.holds import holds
from prefetch_ui.prefetch.models import OperationKind, PlanStatus
from prefetch_ui.prefetch.selectors.plan_builder import batch_quota_check
from prefetch_ui.prefetch.services import operations
from prefetch_ui.prefetch.services.creates import (
    FormAlreadySentError,
    job_create_request,
    plans_create_request,
)
from prefetch_ui.prefetch.services.plan_edits import PlanEditRefused, plan_update_request

from .auth import TokenAuth
from .errors import ApiErrorOut
from .idempotency import IDEMPOTENCY_OPENAPI
from .models import Scope
from .operation_schemas import JobCreateIn, OperationDetailOut, PlanEditIn, PlansCreateIn, operation_out
from .quota_checks import quota_warnings
from .write_targets import (
    WRITE_ANSWERS,
    Answer,
    accepted,
    act,
    already_sent,
    conflict,
    create_key,
    invalid,
    job_named,
    operation_named,
    owner_of,
    plan_named,
    site_named,
    site_not_held,
    via_of,
)

router = Router(auth=TokenAuth(Scope.OPERATE), tags=["operations"])

# -- plans -----------------------------------------------------------------------------------------


@router.post(
    "/plans/{plan_id}/start",
    url_name="api-plan-start",
    response=WRITE_ANSWERS,
    openapi_extra=IDEMPOTENCY_OPENAPI,
)
def plan_start(request: HttpRequest, plan_id: str) -> Answer:
    """Start a stopped plan (StartScheduledPreloadExecution). Refused on a held site or plan."""
    plan = plan_named(plan_id)
    site_not_held(plan.job.site)
    if holds().plans_held([plan.esa_id]):
        raise conflict("plan_held", "An incident holds this plan: it starts again when the incident resumes.")
    if plan.status != PlanStatus.STOPPED:
        raise conflict(
            "plan_not_stopped", f"Only a stopped plan starts; this one is {plan.status}.", field="plan_id"
        )
    return act(request, OperationKind.PLAN_START, plan)


@router.post(
    "/plans/{plan_id}/stop",
    url_name="api-plan-stop",
    response=WRITE_ANSWERS,
    openapi_extra=IDEMPOTENCY_OPENAPI,
)
def plan_stop(request: HttpRequest, plan_id: str) -> Answer:
    """Stop a running plan (StopScheduledPreloadExecution)."""
    plan = plan_named(plan_id)
    if plan.status != PlanStatus.RUNNING:
        raise conflict(
            "plan_not_running", f"Only a running plan stops; this one is {plan.status}.", field="plan_id"
        )
    return act(request, OperationKind.PLAN_STOP, plan)


@router.patch(
    "/plans/{plan_id}", url_name="api-plan", response=WRITE_ANSWERS, openapi_extra=IDEMPOTENCY_OPENAPI
)
def plan_edit(request: HttpRequest, plan_id: str, payload: PlanEditIn) -> Answer:
    """Change a plan's window and pace (UpdateScheduledPreloadExecution); what is left out stays.
    A start that changes may not be more than a minute ago."""
    plan = plan_named(plan_id)
    if not payload.model_fields_set - {name for name, value in payload.model_dump().items() if value is None}:
        raise invalid("start_time", "Nothing to change: give start_time, end_time, interval or slice_len.")
    site_not_held(plan.job.site)
    start = payload.start_time or plan.start_time
    end = payload.end_time or plan.end_time
    if start is None or end is None:
        raise invalid(
            "start_time", "This plan has no window in the mirror yet: give start_time and end_time."
        )
    if start != plan.start_time and (
        message := past_start_error(start, now=timezone.now(), shown_as=start.isoformat())
    ):
        raise invalid("start_time", message)
    if end <= start:
        raise invalid("end_time", "The end must be after the start.")
    params: dict[str, object] = {
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "interval": payload.interval or plan.interval,
        "slice_len": payload.slice_len or plan.slice_len,
    }
    try:
        operation, created = plan_update_request(
            user=owner_of(request), plan=plan, params=params, via=via_of(request)
        )
    except PlanEditRefused as refused:
        raise conflict("plan_not_editable", str(refused), field="plan_id") from None
    if not created:  # as the page: an edit joins no other, whose window may be another
        raise conflict(
            "update_in_progress",
            f"An update of this plan is under way (operation {operation.pk}); edit it again once it is done.",
            field="plan_id",
        )
    return accepted(operation, created, site=plan.job.site)


@router.delete(
    "/plans/{plan_id}", url_name="api-plan-delete", response=WRITE_ANSWERS, openapi_extra=IDEMPOTENCY_OPENAPI
)
def plan_delete(request: HttpRequest, plan_id: str) -> Answer:
    """Delete a plan (DeleteScheduledPreloadExecution), held or not, as the job page does."""
    return act(request, OperationKind.PLAN_DELETE, plan_named(plan_id))


# -- jobs ------------------------------------------------------------------------------------------


@router.post(
    "/jobs/{job_id}/reset",
    url_name="api-job-reset",
    response=WRITE_ANSWERS,
    openapi_extra=IDEMPOTENCY_OPENAPI,
)
def job_reset(request: HttpRequest, job_id: str) -> Answer:
    """Reset a job (ResetScheduledPreloadJob): its progress to zero. Refused on a held site."""
    job = job_named(job_id)
    site_not_held(job.site)
    return act(request, OperationKind.JOB_RESET, job)


@router.delete(
    "/jobs/{job_id}", url_name="api-job-delete", response=WRITE_ANSWERS, openapi_extra=IDEMPOTENCY_OPENAPI
)
def job_delete(request: HttpRequest, job_id: str) -> Answer:
    """Delete a job and all its plans (DeleteScheduledPreloadJob)."""
    return act(request, OperationKind.JOB_DELETE, job_named(job_id))


@router.post(
    "/sites/{site_id}/jobs",
    url_name="api-job-create",
    response=WRITE_ANSWERS,
    openapi_extra=IDEMPOTENCY_OPENAPI,
)
def job_create(request: HttpRequest, site_id: str, payload: JobCreateIn) -> Answer:
    """Create a job on a site from a list of URLs (each of the site's domain, no duplicates) or an
    OSS object. Any URL the new-job page would leave out is refused here, naming it: nothing is
    created from part of a list."""
    site = site_named(site_id)
    if (payload.urls is None) == (payload.oss_url is None):
        raise invalid("urls", "Give either urls (a list) or oss_url, not both.")
    key = create_key(request)
    try:
        if payload.urls is not None:
            report = check_url_list(
                "\n".join(payload.urls),
                site_domain=site.name,
                max_urls=settings.PREFETCH_MAX_URLS_PER_JOB,
                max_url_length=settings.PREFETCH_MAX_URL_LENGTH,
            )
            if report.rejected:
                line = report.rejected[0]
                raise invalid(
                    f"urls.{line.line_number - 1}",
                    f"{line.reason} ({report.rejected_count} of {len(payload.urls)} URLs refused)",
                    code="url_refused",
                )
            if report.problem:
                raise invalid("urls", report.problem)
            operation, created = job_create_request(
                user=owner_of(request),
                site=site,
                form_token=key,
                name=payload.name,
                urls=report.valid,
                via=via_of(request),
            )
        else:
            try:
                oss_url = check_oss_url(payload.oss_url or "", max_length=settings.PREFETCH_MAX_URL_LENGTH)
            except OssUrlError as error:
                raise invalid("oss_url", str(error)) from None
            operation, created = job_create_request(
                user=owner_of(request),
                site=site,
                form_token=key,
                name=payload.name,
                oss_url=oss_url,
                via=via_of(request),
            )
    except FormAlreadySentError as sent:
        raise already_sent(sent) from None
    return accepted(operation, created, site=site)


@router.post(
    "/jobs/{job_id}/plans",
    url_name="api-plans-create",
    response=WRITE_ANSWERS,
    openapi_extra=IDEMPOTENCY_OPENAPI,
)
def plans_create(request: HttpRequest, job_id: str, payload: PlansCreateIn) -> Answer:
    """Add a batch of plans to a job (CreateScheduledPreloadExecutions). Refused on a held site,
    for a start more than a minute ago, or past the plans a job may have. The operation's `plans`
    says, in the order sent, which ESA created and why it refused any."""
    job = job_named(job_id)
    site_not_held(job.site)
    now = timezone.now()
    for index, plan in enumerate(payload.plans):
        if message := past_start_error(plan.start_time, now=now, shown_as=plan.start_time.isoformat()):
            raise invalid(f"plans.{index}.start_time", message)
    limit, on_job = settings.PREFETCH_MAX_PLANS_PER_JOB, job.plans.count()
    if on_job + len(payload.plans) > limit:
        raise invalid(
            "plans",
            f"This job has {on_job} plans and ESA takes at most {limit} a job: there is room for "
            f"{max(0, limit - on_job)} more, and this batch has {len(payload.plans)}.",
            code="too_many_plans",
        )
    specs = {
        str(index): PlanSpec(plan.start_time, plan.end_time, plan.interval, plan.slice_len)
        for index, plan in enumerate(payload.plans)
    }
    # What the builder's preview warns of: ESA takes the plans, and refuses the URLs past the quota.
    drafts = [
        PlanDraft(plan.start_time, plan.end_time, plan.interval, plan.slice_len) for plan in payload.plans
    ]
    warnings = quota_warnings(batch_quota_check(job=job, drafts=drafts, now=now), scope="batch")
    try:
        operation, created = plans_create_request(
            user=owner_of(request), job=job, form_token=create_key(request), plans=specs, via=via_of(request)
        )
    except FormAlreadySentError as sent:
        raise already_sent(sent) from None
    return accepted(operation, created, site=job.site, warnings=warnings)


# -- operations ------------------------------------------------------------------------------------


@router.get(
    "/operations/{operation_id}",
    url_name="api-operation",
    auth=TokenAuth(Scope.READ),
    response={
        200: OperationDetailOut,
        401: ApiErrorOut,
        403: ApiErrorOut,
        404: ApiErrorOut,
        422: ApiErrorOut,
        429: ApiErrorOut,
    },
)
def operation(request: HttpRequest, operation_id: str) -> dict[str, object]:
    """One operation: poll it until `status` is succeeded or failed."""
    return operation_out(operation_named(operation_id))


@router.post(
    "/operations/{operation_id}/retry",
    url_name="api-operation-retry",
    response=WRITE_ANSWERS,
    openapi_extra=IDEMPOTENCY_OPENAPI,
)
def operation_retry(request: HttpRequest, operation_id: str) -> Answer:
    """Ask again for a failed operation's action (not a create: send that again, with a new key)."""
    failed = operation_named(operation_id)
    try:
        operation, created = operations.operation_retry(
            user=owner_of(request), operation=failed, via=via_of(request)
        )
    except operations.OperationHeld as held:
        raise conflict("site_held", str(held), field="site_id") from None
    except ValueError as error:
        raise conflict("not_retryable", str(error).capitalize() + ".", field="operation_id") from None
    return accepted(operation, created, site=failed.site)
