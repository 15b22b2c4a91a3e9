"""Pages and fragments. Views read through selectors, write through services, never call ESA."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling
from django_htmx.middleware import HtmxDetails

from . import selectors
from .forms import PlanWindowForm
from .models import Job, Operation, OperationKind, OperationStatus, Plan, Site
from .permissions import can_operate, require_operator
from .services import operations
from .timezones import SESSION_KEY, utc_to_local_input, zone_named

JOBS_PER_PAGE = 50


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _stop_polling_when_done(
    response: HttpResponse, *, request: HtmxHttpRequest, unfinished: bool
) -> HttpResponse:
    """A poll that finds everything terminal answers 286 so htmx stops asking."""
    if request.htmx and request.GET.get("poll") and not unfinished:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@require_GET
def site_list(request: HtmxHttpRequest) -> HttpResponse:
    sites = list(selectors.site_list())
    unfinished = any(site.plans_waiting or site.plans_running for site in sites)  # type: ignore[attr-defined]
    context = {"sites": sites, "unfinished": unfinished}
    template = "prefetch/site_list.html#sites-table" if request.htmx else "prefetch/site_list.html"
    return _stop_polling_when_done(render(request, template, context), request=request, unfinished=unfinished)


def _date_param(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@require_GET
def site_detail(request: HtmxHttpRequest, site_esa_id: int) -> HttpResponse:
    site = get_object_or_404(Site, esa_id=site_esa_id)
    name = request.GET.get("name", "").strip()[:255]
    created_from_raw, created_to_raw = request.GET.get("created_from", ""), request.GET.get("created_to", "")
    created_from, created_to = _date_param(created_from_raw), _date_param(created_to_raw)
    filter_errors = [
        f"{label} “{raw}” is not a date (YYYY-MM-DD); it was ignored."
        for label, raw, parsed in (
            ("From", created_from_raw, created_from),
            ("To", created_to_raw, created_to),
        )
        if raw and parsed is None
    ]
    jobs = selectors.site_job_list(site=site, name=name, created_from=created_from, created_to=created_to)
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    rows = selectors.job_rows(page.object_list)
    creations = selectors.site_job_creations(site)
    unfinished = any(row.unfinished for row in rows) or any(op.is_active for op in creations)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "site": site,
        "page": page,
        "rows": rows,
        "creations": creations,
        "name": name,
        "created_from": created_from_raw,
        "created_to": created_to_raw,
        "filter_errors": filter_errors,
        "unfinished": unfinished,
        "query": query.urlencode(),
        "can_operate": can_operate(request.user),
    }
    template = "prefetch/site_detail.html#jobs-table" if request.htmx else "prefetch/site_detail.html"
    return _stop_polling_when_done(render(request, template, context), request=request, unfinished=unfinished)


def _job_context(request: HttpRequest, job: Job, detail: selectors.JobDetail) -> dict[str, object]:
    return {"job": job, "detail": detail, "can_operate": can_operate(request.user)}


@require_GET
def job_detail(request: HtmxHttpRequest, job_esa_id: str) -> HttpResponse:
    job = Job.objects.select_related("site").filter(esa_id=job_esa_id).first()
    if job is None:
        if request.htmx:
            # The job was deleted while the page was open: go to its site, or home.
            gone = Operation.objects.filter(target_esa_id=job_esa_id, kind=OperationKind.JOB_DELETE).first()
            site_url = (
                reverse("site-detail", args=[gone.site.esa_id]) if gone and gone.site else reverse("home")
            )
            return HttpResponseClientRedirect(site_url)
        return render(request, "prefetch/job_missing.html", {"job_esa_id": job_esa_id}, status=404)
    detail = selectors.job_detail(job=job)
    template = "prefetch/job_detail.html#job-live" if request.htmx else "prefetch/job_detail.html"
    response = render(request, template, _job_context(request, job, detail))
    return _stop_polling_when_done(response, request=request, unfinished=detail.unfinished)


def _after_action(request: HtmxHttpRequest, job: Job) -> HttpResponse:
    if request.htmx:
        context = _job_context(request, job, selectors.job_detail(job=job))
        return render(request, "prefetch/job_detail.html#job-live", context)
    return redirect("job-detail", job_esa_id=job.esa_id)


_PLAN_ACTIONS = {
    "start": OperationKind.PLAN_START,
    "stop": OperationKind.PLAN_STOP,
    "delete": OperationKind.PLAN_DELETE,
}
_JOB_ACTIONS = {"reset": OperationKind.JOB_RESET, "delete": OperationKind.JOB_DELETE}


@require_POST
def plan_action(request: HtmxHttpRequest, plan_esa_id: str, action: str) -> HttpResponse:
    require_operator(request)
    plan = get_object_or_404(Plan.objects.select_related("job__site"), esa_id=plan_esa_id)
    kind = _PLAN_ACTIONS.get(action)
    if kind is None:
        return HttpResponse(f"Unknown plan action “{action}”.", status=404, content_type="text/plain")
    operations.operation_request(user=request.user, kind=kind, target=plan)
    return _after_action(request, plan.job)


@require_POST
def job_action(request: HtmxHttpRequest, job_esa_id: str, action: str) -> HttpResponse:
    require_operator(request)
    job = get_object_or_404(Job.objects.select_related("site"), esa_id=job_esa_id)
    kind = _JOB_ACTIONS.get(action)
    if kind is None:
        return HttpResponse(f"Unknown job action “{action}”.", status=404, content_type="text/plain")
    operations.operation_request(user=request.user, kind=kind, target=job)
    return _after_action(request, job)


@require_POST
def operation_retry(request: HtmxHttpRequest, operation_id: int) -> HttpResponse:
    require_operator(request)
    operation = get_object_or_404(Operation.objects.select_related("job", "plan"), pk=operation_id)
    if operation.status != OperationStatus.FAILED:
        return HttpResponse("Only a failed operation can be retried.", status=409)
    try:
        operations.operation_retry(user=request.user, operation=operation)
    except ValueError as error:
        return HttpResponse(str(error).capitalize() + ".", status=409)
    if operation.job is None:
        return redirect("home")
    return _after_action(request, operation.job)


@require_POST
def site_stop_all(request: HtmxHttpRequest, site_esa_id: int) -> HttpResponse:
    require_operator(request)
    site = get_object_or_404(Site, esa_id=site_esa_id)
    stopping = operations.site_stop_all(user=request.user, site=site)
    messages.info(request, f"Stopping {len(stopping)} waiting or running plan(s) on {site.name}.")
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(back)
    return redirect("site-detail", site_esa_id=site.esa_id)


def plan_edit(request: HtmxHttpRequest, plan_esa_id: str) -> HttpResponse:
    """Change a plan's window and pace (UpdateScheduledPreloadExecution, through a worker).

    With htmx the form lives outside the polled region, so a poll never wipes what is typed.
    """
    require_operator(request)
    plan = get_object_or_404(Plan.objects.select_related("job__site"), esa_id=plan_esa_id)
    if request.method == "POST":
        form = PlanWindowForm(request.POST)
        if form.is_valid():
            _, created = operations.operation_request(
                user=request.user, kind=OperationKind.PLAN_UPDATE, target=plan, params=form.operation_params()
            )
            if not created:
                form.add_error(None, "An update of this plan is under way; edit it again once it is done.")
                template = (
                    "prefetch/plan_edit.html#plan-editor" if request.htmx else "prefetch/plan_edit.html"
                )
                return render(request, template, {"plan": plan, "job": plan.job, "form": form})
            if request.htmx:
                response = HttpResponse("")
                response["HX-Trigger"] = "job-changed"
                return response
            return redirect("job-detail", job_esa_id=plan.job.esa_id)
    elif request.method == "GET":
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
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    template = "prefetch/plan_edit.html#plan-editor" if request.htmx else "prefetch/plan_edit.html"
    return render(request, template, {"plan": plan, "job": plan.job, "form": form})


@require_POST
def display_zone_set(request: HtmxHttpRequest) -> HttpResponse:
    """Remember the zone this operator wants times shown and typed in."""
    name = request.POST.get("zone", "")
    if zone_named(name) is None:
        messages.error(
            request, f"“{name[:64]}” is not a time zone this server knows; times stay as they were."
        )
    else:
        request.session[SESSION_KEY] = name
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(back)
    return redirect("home")
