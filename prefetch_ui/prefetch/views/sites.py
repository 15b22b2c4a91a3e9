"""The sites list, and a site's page with its jobs (holding a site is in prefetch_ui.incidents)."""

from __future__ import annotations

from datetime import date

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from prefetch_ui.core.parameters import page_number

from .. import selectors
from ..models import Site
from ..permissions import can_operate
from .htmx import HtmxHttpRequest, poll_query, render_page, stop_polling_when_done

JOBS_PER_PAGE = 50


@require_GET
def site_list(request: HtmxHttpRequest) -> HttpResponse:
    sites = list(selectors.site_list())
    unfinished = any(site.plans_waiting or site.plans_running for site in sites)  # type: ignore[attr-defined]
    context = {
        "sites": sites,
        "unfinished": unfinished,
        "poll_query": poll_query(request),
        "can_operate": can_operate(request.user),
    }
    response = render_page(request, "prefetch/site_list.html", context, fragment="sites-table")
    return stop_polling_when_done(request, response, unfinished=unfinished)


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
    if "\x00" in name:
        # No job name holds one, and PostgreSQL refuses it in a query.
        filter_errors.insert(0, "The name contains a NUL character; it was ignored.")
        name = ""
    jobs = selectors.site_job_list(site=site, name=name, created_from=created_from, created_to=created_to)
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(page_number(request))
    rows = selectors.job_rows(page.object_list)
    creations = selectors.site_job_creations(site)
    unfinished = any(row.unfinished for row in rows) or any(op.is_active for op in creations)
    filters = request.GET.copy()
    for key in ("page", "poll"):
        filters.pop(key, None)
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
        "query": filters.urlencode(),
        "poll_query": poll_query(request, page=page.number),
        "can_operate": can_operate(request.user),
    }
    response = render_page(request, "prefetch/site_detail.html", context, fragment="jobs-table")
    return stop_polling_when_done(request, response, unfinished=unfinished)
