"""CSV exports of jobs (with the overview's filters) and plans (with the timeline's)."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from prefetch_ui.prefetch.selectors.statuses import COUNTED_STATUSES
from prefetch_ui.prefetch.views.htmx import HtmxHttpRequest

from ..csv_export import csv_response
from ..forms.overview import OverviewFilterForm
from ..forms.timeline import TimelineFilterForm
from ..selectors.overview import job_reviews
from ..selectors.timeline import timeline_plans_held, window_of

JOB_COLUMNS = (
    "site",
    "site_id",
    "job_id",
    "job",
    "created_at",
    "urls",
    "urls_submitted",
    "urls_remaining",
    "state",
    *(f"plans_{status}" for status in COUNTED_STATUSES),  # plans_held: held by an incident
    "estimated_finish",
    "urls_without_plan",
    "needs_attention",
    "held_by_incident",
    "error_info",
)
PLAN_COLUMNS = (
    "site",
    "site_id",
    "job_id",
    "job",
    "plan_id",
    "status",
    # The incident that holds the plan now (empty: none), and the window it is meant to run in:
    # while held, the one it had before the hold; start_time and end_time are ESA's (parked).
    "held_by_incident",
    "original_start_time",
    "original_end_time",
    "start_time",
    "end_time",
    "interval_seconds",
    "batch_size",
    "urls_per_minute",
    "synced_at",
)


def _filename(kind: str) -> str:
    return f"{kind}-{timezone.localtime():%Y%m%d-%H%M}.csv"


def _errors(form: OverviewFilterForm | TimelineFilterForm) -> HttpResponse:
    """A filter that cannot be read gets a 400 that says why, never a CSV of something else."""
    messages = [str(error) for errors in form.errors.values() for error in errors]
    return HttpResponseBadRequest(
        "The export's filters are wrong: " + " ".join(messages), content_type="text/plain; charset=utf-8"
    )


@require_GET
def jobs_csv(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = OverviewFilterForm(request.GET)
    if not form.is_valid():
        return _errors(form)
    site, attention_only = form.cleaned_data["site"], form.cleaned_data["attention"]

    def rows() -> Iterator[list[object]]:
        for review in job_reviews(site_ids=None if site is None else [site.esa_id]):
            if attention_only and not review.flags:
                continue
            job = review.job
            yield [
                job.site.name,
                job.site.esa_id,
                job.esa_id,
                job.name,
                job.esa_created_at,
                job.url_count,
                job.url_submitted,
                review.remaining,
                review.state,
                *(review.plan_counts.get(status, 0) for status in COUNTED_STATUSES),
                review.outlook.finishes_at if review.estimate == "finishes" else None,
                review.outlook.unscheduled,
                " ".join(review.flags),
                review.hold.pk if review.hold else None,
                job.error_info,
            ]

    return csv_response(filename=_filename("jobs"), header=JOB_COLUMNS, rows=rows())


@require_GET
def plans_csv(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = TimelineFilterForm(request.GET, now=timezone.now())
    if not form.is_valid():
        return _errors(form)
    start, end = form.cleaned_data["window"]
    site = form.cleaned_data["site"]

    def rows() -> Iterator[list[object]]:
        for plan, held in timeline_plans_held(start=start, end=end, site=site):
            job = plan.job
            yield [
                job.site.name,
                job.site.esa_id,
                job.esa_id,
                job.name,
                plan.esa_id,
                plan.status,
                f"incident #{held.incident.pk}" if held else None,
                *window_of(plan, held),
                plan.start_time,
                plan.end_time,
                plan.interval,
                plan.slice_len,
                round(plan.slice_len * 60 / plan.interval, 2) if plan.interval else 0,
                plan.synced_at,
            ]

    return csv_response(filename=_filename("plans"), header=PLAN_COLUMNS, rows=rows())
