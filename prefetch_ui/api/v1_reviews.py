"""/api/v1/audit, /overview and /forecast: what the leads' pages show, as JSON (scope `read`).

Each reads through the selectors its page is drawn from, with the page's filters checked as the
page checks them, so the numbers are the page's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router

from prefetch_ui.planning.forecast import LoadSeries
from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.selectors.statuses import site_idle
from prefetch_ui.reviews.forms.audit import AuditFilterForm
from prefetch_ui.reviews.selectors.audit import AuditFilters, audit_entries
from prefetch_ui.reviews.selectors.audit_rows import AuditRow, audit_rows
from prefetch_ui.reviews.selectors.outlooks import JobReview
from prefetch_ui.reviews.selectors.overview import SiteReview, site_reviews, sort_by_attention
from prefetch_ui.reviews.selectors.timeline import load_forecast, load_forecast_total

from .errors import ApiError
from .lists import REFUSALS, page_facts, page_of
from .schemas_reviews import (
    FORECAST_DAYS_MAX,
    FORECAST_HOURS_DEFAULT,
    AuditPageOut,
    AuditQuery,
    ForecastOut,
    ForecastQuery,
    OverviewQuery,
    SiteReviewOut,
)

router = Router(tags=["reviews"])


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(status=422, code="invalid", message=f"{field}: {message}", field=field)


def _site_filter(site_id: int | None) -> Site | None:
    """The site a filter names; one the dashboard does not know is a 422, as on the pages."""
    if site_id is None:
        return None
    site = Site.objects.filter(esa_id=site_id).first()
    if site is None:
        raise _invalid("site", f"{site_id} is not a site this dashboard knows.")
    return site


def _audit_filters(query: AuditQuery) -> AuditFilters:
    """The audit page's form checks who, kind, result and site with its own words; the times come
    with their offset (the page reads its inputs in the operator's zone instead)."""
    form = AuditFilterForm({"who": query.who, "kind": query.kind, "result": query.result, "site": query.site})
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        raise _invalid(field, str(errors[0]))
    if query.since is not None and query.until is not None and query.since >= query.until:
        raise _invalid("since", "From must be before To.")
    checked = form.filters()
    return AuditFilters(
        actor=checked.actor,
        kind=checked.kind,
        result=checked.result,
        site=checked.site,
        start=query.since,
        end=query.until,
    )


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment is not None else "?"


def _audit_entry_out(row: AuditRow) -> dict[str, object]:
    return {
        "at": row.at,
        "who": row.actor,
        "kind": row.kind,
        "kind_label": row.kind_label,
        "target": row.target_label,
        "target_id": row.target_esa_id,
        "job_id": row.job_esa_id,
        "incident_id": row.incident_id,
        "operation_id": row.operation_id,
        "site_id": row.site.esa_id if row.site is not None else None,
        "site": row.site_label,
        "result": row.result,
        "error_code": row.error_code,
        "error_message": row.error_message,
        "request_id": row.request_id,
        "failed_plans": row.failed_plans if row.incident_id is not None else None,
        "changes": row.changes.text(_utc) if row.changes is not None else "",
        "reason": row.reason,
    }


@router.get("/audit", url_name="api-audit", response={200: AuditPageOut, **REFUSALS})
def audit(request: HttpRequest, query: Query[AuditQuery]) -> dict[str, object]:
    """The audit log, newest first, a page at a time, with the audit page's filters: each entry
    as the page and its CSV show it (who: a user name, or "token NAME of USER" for a call through
    a token)."""
    page = page_of(audit_entries(_audit_filters(query)), query)
    return {**page_facts(page), "items": [_audit_entry_out(row) for row in audit_rows(page.object_list)]}


def _site_estimate(review: SiteReview) -> str:
    """The site's estimate in one word, as the overview's `site-estimate` says it."""
    if review.hold is not None:
        return "held"
    if site_idle(review.site):
        return "idle"
    if review.unscheduled:
        return "will not finish"
    if review.finishes_at is not None:
        return "finishes"
    return "nothing scheduled" if review.jobs_in_play else "done"


def _job_review_out(review: JobReview) -> dict[str, object]:
    job = review.job
    shares = review.outlook.shares
    return {
        "id": job.esa_id,
        "name": job.name,
        "state": review.state,
        "url_count": job.url_count,
        "url_submitted": job.url_submitted,
        "plan_counts": review.plan_counts,
        "late_plans": review.late_plans,
        "error_info": job.error_info,
        "flags": review.flags,
        "estimate": {
            "estimate": review.estimate,
            "site_idle": review.site_idle,
            "remaining": review.remaining,
            "finishes_at": review.outlook.finishes_at,
            "unscheduled": review.outlook.unscheduled,
            "last_plan_ends": shares.last_end if shares is not None else None,
        },
    }


def _site_review_out(review: SiteReview) -> dict[str, object]:
    return {
        "site_id": review.site.esa_id,
        "name": review.site.name,
        "status": review.site.status,
        "held_by_incident": review.hold.pk if review.hold is not None else None,
        "flags": review.flags,
        "state": review.state,
        "url_count": review.url_count,
        "url_submitted": review.url_submitted,
        "progress_percent": review.progress_percent,
        "plan_counts": review.plan_counts,
        "late_plans": review.late_plans,
        "job_count": review.job_count,
        "jobs_in_play": review.jobs_in_play,
        "jobs_done": review.jobs_done,
        "jobs_not_shown": review.jobs_not_shown,
        "estimate": _site_estimate(review),
        "finishes_at": review.finishes_at,
        "unscheduled": review.unscheduled,
        "jobs": [_job_review_out(job) for job in review.jobs],
    }


@router.get("/overview", url_name="api-overview", response={200: list[SiteReviewOut], **REFUSALS})
def overview(request: HttpRequest, query: Query[OverviewQuery]) -> list[dict[str, object]]:
    """The overview's outlook: every site (or `site`) with its URLs, plans by status, hold, what
    needs attention, when its jobs will have sent their URLs, and its jobs in play."""
    site = _site_filter(query.site)
    reviews = site_reviews(site_ids=None if site is None else [site.esa_id])
    if query.sort == "attention":
        reviews = sort_by_attention(reviews)
    if query.attention:
        reviews = [review for review in reviews if review.flags]
    return [_site_review_out(review) for review in reviews]


def _load_out(site: Site | None, series: LoadSeries) -> dict[str, object]:
    peak = series.peak
    return {
        "site_id": site.esa_id if site is not None else None,
        "site_name": site.name if site is not None else "every site",
        "peak_at": peak[0] if peak is not None else None,
        "peak": peak[1] if peak is not None else 0,
        "total": series.total,
        "urls_per_minute": series.urls,
    }


@router.get("/forecast", url_name="api-forecast", response={200: ForecastOut, **REFUSALS})
def forecast(request: HttpRequest, query: Query[ForecastQuery]) -> dict[str, object]:
    """The origin load forecast, as the timeline draws it: per site, the URLs a minute its waiting
    and running plans will send from now until `until` (stopped and held plans send nothing)."""
    site = _site_filter(query.site)
    now = timezone.now()
    until = query.until or now.replace(second=0, microsecond=0) + timedelta(hours=FORECAST_HOURS_DEFAULT)
    if until <= now:
        raise _invalid("until", "a forecast looks ahead: give a time after now.")
    if until > now + timedelta(days=FORECAST_DAYS_MAX):
        raise _invalid("until", f"a forecast looks at most {FORECAST_DAYS_MAX} days ahead.")
    loads = load_forecast(now=now, until=until, site=site)
    every = load_forecast_total(loads)
    return {
        "start": now.replace(second=0, microsecond=0),
        "until": until,
        "sites": [_load_out(one_site, series) for one_site, series in loads],
        "every_site": _load_out(None, every) if every is not None else None,
    }
