"""The sites list, and a site's page with its jobs (holding a site is in prefetch_ui.incidents)."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from prefetch_ui.core.parameters import page_number
from prefetch_ui.web.htmx import (
    AGE_PARAMETER,
    POLL_PARAMETER,
    VERSION_PARAMETER,
    WAIT_PARAMETER,
    Drawn,
    HtmxHttpRequest,
    live_region,
    mirror_age_changed,
    nothing_changed,
    poll_query,
    poll_token,
    poll_version,
    render_page,
    stop_polling_when_done,
)
from prefetch_ui.web.permissions import can_operate

from ..holds import holds
from ..models import Site
from ..selectors import sites as site_selectors
from ..selectors.job_cap import JOB_COUNT_FULL, job_cap_refusal, site_job_cap
from ..selectors.mirror_age import MirrorAge, listed_sites_mirror_age, site_mirror_age
from ..selectors.operation_waits import (
    site_creation_wait,
    site_creation_wait_unchanged,
    wait_note_changed,
    wait_note_kept,
)
from ..selectors.site_limits import site_limits

JOBS_PER_PAGE = 50


@require_GET
def site_list(request: HtmxHttpRequest) -> HttpResponse:
    """Every site with its counts; for a poll, 204 when no site changed since the token it shows."""
    version = site_selectors.sites_version()
    if poll_token(request) == version:
        return nothing_changed()
    sites = list(site_selectors.site_list())
    unfinished = any(site.plans_waiting or site.plans_running or site.plans_held for site in sites)  # type: ignore[attr-defined]
    context = {
        "sites": sites,
        "unfinished": unfinished,
        "poll_query": poll_query(request, **{VERSION_PARAMETER: version}),
        "can_operate": can_operate(request.user),
        # Called by the template only where the whole page is drawn: a poll never asks it.
        "every_site_hold": holds().every_site_hold,
        "mirror_age": listed_sites_mirror_age(sites=sites),
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
    """A site's jobs, a page at a time; for a poll, 204 when nothing changed since the version it
    shows, only the rows of its page that changed when the list kept its shape (swapped out of
    band), else the whole table."""
    site = get_object_or_404(Site, esa_id=site_esa_id)
    since = poll_version(request)
    age = site_mirror_age(site=site)
    age_changed = since is not None and mirror_age_changed(request, age.token if age else "")
    # A poll whose list kept its shape (or that only needs the note of the mirror's age) gets its
    # rows that changed.
    whole = not (since is not None and site.layout_version <= since <= site.version)
    # The note of a job create waiting for a worker comes with time: the poll carries what it shows.
    wait_shown = request.GET.get(WAIT_PARAMETER, "") if since is not None else ""
    unchanged = (
        since == site.version
        and not age_changed
        and (not wait_shown or site_creation_wait_unchanged(site=site, shown=wait_shown))
    )
    return live_region(
        request,
        "prefetch/site_detail.html",
        region="jobs-table",
        changes="jobs-changes",
        unchanged=unchanged,
        whole=whole,
        draw=lambda: _site_jobs(
            request, site, since=since, age=age, age_changed=age_changed, wait_shown=wait_shown, whole=whole
        ),
    )


def _site_jobs(
    request: HtmxHttpRequest,
    site: Site,
    *,
    since: int | None,
    age: MirrorAge | None,
    age_changed: bool,
    wait_shown: str,
    whole: bool,
) -> Drawn:
    """The site's table of jobs (`whole`), or the rows of its page that changed since `since`."""
    tokens = {AGE_PARAMETER: age.token} if age else {}
    # A job create asked for, moved on or sent back moves the site's layout version (`whole`).
    if not whole and wait_note_kept(shown=wait_shown):
        wait, wait_token = None, wait_shown
    else:
        wait, wait_token = site_creation_wait(site=site)
    if wait_token:
        tokens[WAIT_PARAMETER] = wait_token
    wait_changed = wait_note_changed(wait=wait, shown=wait_shown)
    name = request.GET.get("name", "").strip()[:255]
    created_from_raw, created_to_raw = request.GET.get("created_from", ""), request.GET.get("created_to", "")
    created_from, created_to = _date_param(created_from_raw), _date_param(created_to_raw)
    name_has_nul = "\x00" in name
    if name_has_nul:
        # No job name holds one, and PostgreSQL refuses it in a query.
        name = ""
    jobs = site_selectors.site_job_list(
        site=site, name=name, created_from=created_from, created_to=created_to
    )
    filters = request.GET.copy()
    for key in ("page", POLL_PARAMETER, VERSION_PARAMETER, AGE_PARAMETER):
        filters.pop(key, None)
    if not whole:
        number = page_number(request)
        changes = site_selectors.site_job_changes(
            site=site,
            jobs=jobs,
            since=since or 0,
            page_number=number,
            per_page=JOBS_PER_PAGE,
            filtered=bool(name or created_from or created_to),
        )
        unfinished = changes.unfinished or site_selectors.site_moved_since_read(site)
        context = {
            "site": site,
            "rows": changes.rows,
            "unfinished": unfinished,
            "poll_query": poll_query(request, page=number, **{VERSION_PARAMETER: site.version}, **tokens),
            "oob": True,
            "mirror_age": age,
            "mirror_age_changed": age_changed,
            "operation_wait": wait,
            "operation_wait_changed": wait_changed,
        }
        return Drawn(context, unfinished=unfinished)

    filter_errors = [
        f"{label} “{raw}” is not a date (YYYY-MM-DD); it was ignored."
        for label, raw, parsed in (
            ("From", created_from_raw, created_from),
            ("To", created_to_raw, created_to),
        )
        if raw and parsed is None
    ]
    if name_has_nul:
        filter_errors.insert(0, "The name contains a NUL character; it was ignored.")
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(page_number(request))
    rows = site_selectors.job_rows(page.object_list)
    creations = site_selectors.site_job_creations(site)
    # A create ESA refused for the site's job cap says the cap, as learned from ESA's refusals.
    cap_refused = any(op.error_code == JOB_COUNT_FULL for op in creations)
    job_cap = job_cap_refusal(site_job_cap(site=site)) if cap_refused else ""
    unfinished = (
        any(row.unfinished for row in rows)
        or any(op.is_active for op in creations)
        # Asked last (see `site_moved_since_read`): a job create that finished between the reads of
        # the rows and of the creations is in neither, and the page would stop polling without it.
        or site_selectors.site_moved_since_read(site)
    )
    context = {
        "site": site,
        "page": page,
        "rows": rows,
        "creations": creations,
        "job_cap": job_cap,
        "job_count_full": JOB_COUNT_FULL,
        "name": name,
        "created_from": created_from_raw,
        "created_to": created_to_raw,
        "filter_errors": filter_errors,
        "unfinished": unfinished,
        "query": filters.urlencode(),
        # The version read with the site, before its jobs: a change after it is sent again.
        "poll_query": poll_query(request, page=page.number, **{VERSION_PARAMETER: site.version}, **tokens),
        "can_operate": can_operate(request.user),
        "holds": holds().site_holds(site),
        "mirror_age": age,
        "operation_wait": wait,
    }
    if not request.htmx:
        # The line of its limits, above the jobs: polled on its own (the limits pages' summary),
        # from the token of what it shows, read before them.
        now = timezone.now()
        summary_token = site_selectors.sites_version(site_ids=[site.pk], now=now)
        context["limits"] = site_limits(site=site, now=now)
        context["limits_summary_poll"] = urlencode({POLL_PARAMETER: 1, VERSION_PARAMETER: summary_token})
    return Drawn(context, unfinished=unfinished)
