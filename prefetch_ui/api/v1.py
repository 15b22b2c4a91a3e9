"""/api/v1/: the read endpoints (scope `read`), on the selectors the pages use.

Views are thin: find the row (an id that names none is a 404 naming the parameter, never a 500),
read through prefetch's selectors, and shape the answer (`schemas`).
"""

from __future__ import annotations

import re

from django.http import HttpRequest
from django.utils import timezone
from ninja import NinjaAPI, Query
from ninja.openapi.docs import Swagger

from prefetch_ui.prefetch.models import Job, Operation, Site
from prefetch_ui.prefetch.selectors.jobs import (
    job_operations,
    job_plan_counts,
    job_plans,
    job_site_estimate,
    plan_rows,
)
from prefetch_ui.prefetch.selectors.sites import job_rows, site_job_list, site_list
from prefetch_ui.prefetch.selectors.statuses import COUNTED_STATUSES, job_state, job_unsent
from prefetch_ui.web.request_ids import id_number

from . import v1_incidents, v1_limits, v1_operations, v1_reviews
from .auth import TokenAuth
from .errors import install_error_handlers, not_found
from .lists import REFUSALS, page_facts, page_of
from .models import Scope
from .schemas import (
    JobDetailOut,
    JobPageOut,
    JobPlansQuery,
    OperationPageOut,
    PageQuery,
    PlanPageOut,
    SiteJobsQuery,
    SiteOut,
)

# An ESA job or plan id as the pages take it (prefetch.urls.EsaIdConverter): printable ASCII, no
# "/", at most the 24 characters a row holds. Anything else names no row.
_ESA_ID = re.compile(r"[!-.0-~]{1,24}")

api = NinjaAPI(
    title="prefetch_ui API",
    version="1",
    description=(
        "Sites, jobs, plans and operations of the ESA scheduled prefetch mirror. "
        "Send `Authorization: Bearer <token>`; tokens are made on the tokens page (/api/tokens/)."
    ),
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
    # Swagger UI from ninja's static files (ninja is an installed app), started by a script file:
    # no CDN, no inline script, as the Content-Security-Policy asks.
    docs=Swagger(settings={"persistAuthorization": False}),
    auth=TokenAuth(Scope.READ),
)
install_error_handlers(api)


def _site(site_id: str) -> Site:
    number = id_number(site_id)
    site = site_list().filter(esa_id=number).first() if number is not None else None
    if site is None:
        raise not_found(field="site_id", what="site")
    return site


def _job(job_id: str) -> Job:
    job = (
        Job.objects.select_related("site__limits").filter(esa_id=job_id).first()
        if _ESA_ID.fullmatch(job_id)
        else None
    )
    if job is None:
        raise not_found(field="job_id", what="job")
    return job


def _site_out(site: Site) -> dict[str, object]:
    counts = {status: getattr(site, f"plans_{status}", 0) for status in COUNTED_STATUSES}
    return {
        "id": site.esa_id,
        "name": site.name,
        "status": site.status,
        "plan_name": site.plan_name,
        "coverage": site.coverage,
        "access_type": site.access_type,
        "job_count": getattr(site, "job_count", 0),
        "plan_counts": {status: count for status, count in counts.items() if count},
        "synced_at": site.synced_at,
        "sync_error": site.sync_error,
    }


def _job_out(job: Job, plan_counts: dict[str, int]) -> dict[str, object]:
    return {
        "id": job.esa_id,
        "site_id": job.site.esa_id,
        "name": job.name,
        "insert_way": job.insert_way,
        "task_type": job.task_type,
        "url_count": job.url_count,
        "url_submitted": job.url_submitted,
        "state": job_state(job, plan_counts),
        "unsent": job_unsent(job, plan_counts),
        "plan_counts": plan_counts,
        "created_at": job.esa_created_at,
        "synced_at": job.synced_at,
    }


def _operation_out(operation: Operation) -> dict[str, object]:
    return {
        "id": operation.pk,
        "kind": operation.kind,
        "status": operation.status,
        "target_id": operation.target_esa_id,
        "target_label": operation.target_label,
        "plan_id": operation.target_esa_id if operation.plan_id else None,
        "requested_by": operation.requested_by_label or None,
        "attempts": operation.attempts,
        "error_code": operation.error_code,
        "error_message": operation.error_message,
        "request_id": operation.request_id,
        "created_at": operation.created_at,
        "finished_at": operation.finished_at,
    }


@api.get(
    "/sites",
    url_name="api-sites",
    response={200: list[SiteOut], **REFUSALS},
    tags=["sites"],
)
def sites(request: HttpRequest) -> list[dict[str, object]]:
    """Every site, with its job count and its plans counted by status."""
    return [_site_out(site) for site in site_list()]


@api.get(
    "/sites/{site_id}",
    url_name="api-site",
    response={200: SiteOut, **REFUSALS},
    tags=["sites"],
)
def site(request: HttpRequest, site_id: str) -> dict[str, object]:
    """One site by ESA's site id."""
    return _site_out(_site(site_id))


@api.get(
    "/sites/{site_id}/jobs",
    url_name="api-site-jobs",
    response={200: JobPageOut, **REFUSALS},
    tags=["jobs"],
)
def site_jobs(request: HttpRequest, site_id: str, query: Query[SiteJobsQuery]) -> dict[str, object]:
    """A site's jobs, newest first, a page at a time; `name` filters them by name."""
    page = page_of(site_job_list(site=_site(site_id), name=query.name), query)
    rows = job_rows(page.object_list)
    return {**page_facts(page), "items": [_job_out(row.job, row.plan_counts) for row in rows]}


@api.get(
    "/jobs/{job_id}",
    url_name="api-job",
    response={200: JobDetailOut, **REFUSALS},
    tags=["jobs"],
)
def job(request: HttpRequest, job_id: str) -> dict[str, object]:
    """One job by ESA's job id, with its plans counted and the estimate the job page shows."""
    found = _job(job_id)
    counts = job_plan_counts(job=found)
    estimate = job_site_estimate(job=found, plan_counts=counts, now=timezone.now())
    return {
        **_job_out(found, counts),
        "estimate": {
            "estimate": estimate.estimate,
            "site_idle": estimate.site_idle,
            "remaining": estimate.remaining,
            "finishes_at": estimate.outlook.finishes_at,
            "unscheduled": estimate.outlook.unscheduled,
            "open_plans": estimate.open_plans,
            "held_by_incident": getattr(estimate.hold, "pk", None),
        },
    }


@api.get(
    "/jobs/{job_id}/plans",
    url_name="api-job-plans",
    response={200: PlanPageOut, **REFUSALS},
    tags=["plans"],
)
def plans(request: HttpRequest, job_id: str, query: Query[JobPlansQuery]) -> dict[str, object]:
    """A job's plans in time order, a page at a time; `status` keeps one status (`held`: those an
    incident holds; an ESA status: those of it no incident holds)."""
    found = _job(job_id)
    page = page_of(job_plans(job=found, status=query.status or ""), query)
    rows = plan_rows(plans=page.object_list)  # type: ignore[arg-type]  # a sliced QuerySet
    return {
        **page_facts(page),
        "items": [
            {
                "id": row.plan.esa_id,
                "job_id": found.esa_id,
                "status": row.plan.status,
                "held_by_incident": getattr(row.held, "pk", None) if row.held is not None else None,
                "start_time": row.plan.start_time,
                "end_time": row.plan.end_time,
                "interval": row.plan.interval,
                "slice_len": row.plan.slice_len,
                "synced_at": row.plan.synced_at,
            }
            for row in rows
        ],
    }


@api.get(
    "/jobs/{job_id}/operations",
    url_name="api-job-operations",
    response={200: OperationPageOut, **REFUSALS},
    tags=["operations"],
)
def operations(request: HttpRequest, job_id: str, query: Query[PageQuery]) -> dict[str, object]:
    """What was asked of the job and its plans, newest first, a page at a time."""
    page = page_of(job_operations(job=_job(job_id)), query)
    return {**page_facts(page), "items": [_operation_out(operation) for operation in page.object_list]}


# The incidents, the leads' views and the writes, in modules of their own (a path a read and a write
# share is served by both: urls.py merges their views).
api.add_router("", v1_incidents.router)
api.add_router("", v1_reviews.router)
api.add_router("", v1_limits.router)
api.add_router("", v1_operations.router)
