"""A job's page: its plans, live; what operators do to a job or a plan; editing one plan."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlsplit

from django.core.exceptions import BadRequest
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from prefetch_ui.core.parameters import page_number
from prefetch_ui.planning.local_time import utc_to_local_input
from prefetch_ui.web.htmx import (
    AGE_PARAMETER,
    POLL_PARAMETER,
    VERSION_PARAMETER,
    WAIT_PARAMETER,
    Drawn,
    HtmxHttpRequest,
    live_region,
    mirror_age_changed,
    poll_version,
    redirect_to,
    refusal,
    render_page,
)
from prefetch_ui.web.permissions import can_operate, operator_required

from ..forms import PlanWindowForm
from ..holds import holds
from ..models import Job, Operation, OperationKind, Plan
from ..selectors import jobs as job_selectors
from ..selectors.incident_steps import job_incident_steps_unchanged
from ..selectors.mirror_age import job_mirror_age
from ..selectors.operation_waits import (
    job_operation_wait,
    job_wait_unchanged,
    wait_note_changed,
    wait_note_kept,
)
from ..selectors.statuses import COUNTED_STATUSES
from ..services import operations, plan_edits

# What each button asks of its target, by the kind of target and the action named in its URL.
_ACTIONS: dict[str, dict[str, OperationKind]] = {
    "plan": {
        "start": OperationKind.PLAN_START,
        "stop": OperationKind.PLAN_STOP,
        "delete": OperationKind.PLAN_DELETE,
    },
    "job": {"reset": OperationKind.JOB_RESET, "delete": OperationKind.JOB_DELETE},
}


# What would make a held site send URLs again (see prefetch_ui.incidents).
# The poll's token of the incidents' unsettled steps on the job's plans, when the page shows some.
STEPS_PARAMETER = "steps"
# ... and the token of the ErrorInfo its failed plans show (`selectors.jobs.job_errors_token`).
ERRORS_PARAMETER = "errors"


def _plan_list(request: HtmxHttpRequest) -> tuple[int, str]:
    """Which page of plans, of which status ("": all), the operator is looking at: the request's
    own query, or for a button's POST, that of the page it was clicked on."""
    if request.method == "POST" and request.htmx and request.htmx.current_url:
        query = QueryDict(urlsplit(request.htmx.current_url).query)
        try:
            number = page_number(request, query=query)
        except BadRequest:
            # The page the button was on was shown, so its `page` was read already. The action is
            # done by now: a header that says otherwise must not turn it into a refusal.
            number = 1
    else:
        query, number = request.GET, page_number(request)
    status = query.get("status", "")
    return number, status if status in COUNTED_STATUSES else ""


def _job_live(request: HtmxHttpRequest, job: Job) -> HttpResponse:
    """The job page, or with htmx its live region (what every button swaps in); for a poll, 204
    when nothing changed since the version it shows, only what changed when its list of plans
    kept its shape (`job-changes`, swapped out of band), else the whole region."""
    number, status = _plan_list(request)
    since = poll_version(request)
    steps_since = request.GET.get(STEPS_PARAMETER, "") if since is not None else ""
    age = job_mirror_age(job=job)
    age_changed = since is not None and mirror_age_changed(request, age.token if age else "")
    wait_shown = request.GET.get(WAIT_PARAMETER, "") if since is not None else ""
    unchanged = (
        since == job.version
        and not age_changed
        and (not steps_since or job_incident_steps_unchanged(job=job, steps_since=steps_since))
        and (not wait_shown or job_wait_unchanged(job=job, shown=wait_shown))
    )
    reshaped = since is None or not job.layout_version <= since <= job.version
    if status and since is not None and job.statuses_version > since:
        reshaped = True  # a plan may have come into or left the list of one status

    def draw() -> Drawn:
        operator = can_operate(request.user)
        hold, held = "", False
        if reshaped:
            detail = job_selectors.job_detail(job=job, page_number=number, status=status)
            page = detail.page.number if detail.page else 1
            hold = holds().hold_refusal(job.site)
            held = bool(hold)
        else:
            page = number
            detail = job_selectors.job_changes(
                job=job,
                since=since or 0,
                page_number=page,
                status=status,
                steps_since=steps_since,
                errors_since=request.GET.get(ERRORS_PARAMETER, ""),
            )
            if detail.facts_changed:
                hold = holds().hold_refusal(job.site)
                held = bool(hold)
            elif detail.plan_rows and operator:
                held = holds().site_held(job.site_id)  # which buttons the rows offer
        filters = QueryDict(mutable=True)
        if status:
            filters["status"] = status
        poll = filters.copy()
        # The version read with the job, before its rows: a change after it is sent again, never missed.
        poll.update({"page": str(page), POLL_PARAMETER: "1", VERSION_PARAMETER: str(job.version)})
        if detail.steps_token:
            poll[STEPS_PARAMETER] = detail.steps_token
        if errors := job_selectors.job_errors_token(job):
            poll[ERRORS_PARAMETER] = errors
        if age:
            poll[AGE_PARAMETER] = age.token
        if not reshaped and job.operations_version <= (since or 0) and wait_note_kept(shown=wait_shown):
            wait, wait_token = None, wait_shown  # no operation of the job changed since the page
        else:
            wait, wait_token = job_operation_wait(job=job)
        if wait_token:
            poll[WAIT_PARAMETER] = wait_token
        wait_changed = wait_note_changed(wait=wait, shown=wait_shown)
        context = {
            "job": job,
            "detail": detail,
            "hold_refusal": hold,
            "held": held,
            "can_operate": operator,
            "query": filters.urlencode(),
            "poll_query": poll.urlencode(),
            "oob": not reshaped,
            "mirror_age": age,
            "mirror_age_changed": age_changed,
            "operation_wait": wait,
            "operation_wait_changed": wait_changed,
        }
        return Drawn(context, unfinished=detail.unfinished)

    return live_region(
        request,
        "prefetch/job_detail.html",
        region="job-live",
        changes="job-changes",
        unchanged=unchanged,
        whole=reshaped,
        draw=draw,
    )


@require_GET
def job_detail(request: HtmxHttpRequest, job_esa_id: str) -> HttpResponse:
    steps = bool(poll_version(request) is not None and request.GET.get(STEPS_PARAMETER))
    job = job_selectors.job_to_poll(job_esa_id=job_esa_id, steps=steps)
    if job is not None:
        return _job_live(request, job)
    if request.htmx:
        # The job was deleted while the page was open: go to its site, or home.
        site = job_selectors.site_of_deleted_job(job_esa_id)
        return HttpResponseClientRedirect(
            reverse("site-detail", args=[site.esa_id]) if site else reverse("home")
        )
    return render(request, "prefetch/job_missing.html", {"job_esa_id": job_esa_id}, status=404)


@require_POST
@operator_required
def target_action(request: HtmxHttpRequest, esa_id: str, action: str, target: str) -> HttpResponse:
    """Ask a worker to start, stop or delete a plan, or to reset or delete a job (URLconf names `target`)."""
    kind = _ACTIONS[target].get(action)
    if kind is None:
        raise Http404(f"Unknown {target} action “{action}”.")
    subject: Plan | Job
    if target == "plan":
        subject = get_object_or_404(Plan.objects.select_related("job__site"), esa_id=esa_id)
    else:
        subject = get_object_or_404(Job.objects.select_related("site"), esa_id=esa_id)
    site = subject.job.site if isinstance(subject, Plan) else subject.site
    if kind in operations.HOLD_REFUSED_KINDS and (hold := holds().hold_refusal(site)):
        return refusal(hold, status=HTTPStatus.CONFLICT)
    operations.operation_request(user=request.user, kind=kind, target=subject)
    return _after_action(request, subject.job if isinstance(subject, Plan) else subject)


def _after_action(request: HtmxHttpRequest, job: Job) -> HttpResponse:
    """With htmx, the job's live region as it is now (showing "Stopping…"); else back to the page."""
    if request.htmx:
        job.refresh_from_db()  # the version the action took: its poll then asks from there
        return _job_live(request, job)
    return redirect_to(request, reverse("job-detail", args=[job.esa_id]))


@require_POST
@operator_required
def operation_retry(request: HtmxHttpRequest, operation_id: int) -> HttpResponse:
    operation = get_object_or_404(Operation.objects.select_related("job__site", "plan"), pk=operation_id)
    try:
        operations.operation_retry(user=request.user, operation=operation)
    except operations.OperationHeld as held:
        return refusal(str(held), status=HTTPStatus.CONFLICT)
    except ValueError as error:
        return refusal(str(error).capitalize() + ".", status=HTTPStatus.CONFLICT)
    if operation.job is None:
        return redirect_to(request, reverse("home"))
    return _after_action(request, operation.job)


@require_http_methods(["GET", "POST"])
@operator_required
def plan_edit(request: HtmxHttpRequest, plan_esa_id: str) -> HttpResponse:
    """Change a plan's window and pace (UpdateScheduledPreloadExecution, through a worker).

    With htmx (the job page's Edit) the editor is a row of the job's table, right after its plan's
    row, which static/js/forms.js keeps through the live region's swaps, so a poll never wipes what
    is typed; without, this is a page of its own. A plan deleted meanwhile is said to be gone in
    place of the form; a finished or failed plan is not edited (`services.plan_edits`).
    """
    in_row = bool(request.htmx)
    plan = Plan.objects.select_related("job__site").filter(esa_id=plan_esa_id).first()
    if plan is None:
        gone = {"plan_esa_id": plan_esa_id, "typed": request.method == "POST", "gone": True}
        if in_row:
            return render(request, "prefetch/plan_edit.html#plan-editor-row", gone)
        return render(request, "prefetch/plan_gone.html", gone, status=404)
    context: dict[str, object] = {"plan": plan, "job": plan.job, "in_row": in_row}
    if refused := plan_edits.plan_edit_refusal(plan=plan):
        if request.method == "POST":
            return refusal(refused, status=HTTPStatus.CONFLICT)
        context["refusal"] = refused
        return render_page(request, "prefetch/plan_edit.html", context, fragment="plan-editor-row")
    now = timezone.now()
    if request.method == "GET":
        zone = PlanWindowForm().zone
        form = PlanWindowForm(
            initial={
                "start_time": utc_to_local_input(plan.start_time, zone),
                "end_time": utc_to_local_input(plan.end_time, zone),
                "interval": plan.interval,
                "slice_len": plan.slice_len,
            }
        )
    else:
        form = PlanWindowForm(request.POST, current_start=plan.start_time, now=now)
        if hold := holds().hold_refusal(plan.job.site):
            form.add_error(None, hold)
        if form.is_valid():
            try:
                _, created = plan_edits.plan_update_request(
                    user=request.user, plan=plan, params=form.operation_params()
                )
            except plan_edits.PlanEditRefused as error:
                return refusal(str(error), status=HTTPStatus.CONFLICT)
            if created:
                if request.htmx:
                    return HttpResponse("", headers={"HX-Trigger": "job-changed"})
                return redirect_to(request, reverse("job-detail", args=[plan.job.esa_id]))
            form.add_error(None, "An update of this plan is under way; edit it again once it is done.")
    context["form"] = form
    return render_page(request, "prefetch/plan_edit.html", context, fragment="plan-editor-row")
