"""The overview: where prefetch stands on every site, needs-attention first."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from prefetch_ui.prefetch.selectors.mirror_age import sites_mirror_age
from prefetch_ui.prefetch.selectors.site_limits import sites_limits
from prefetch_ui.prefetch.selectors.sites import sites_version
from prefetch_ui.web.htmx import (
    VERSION_PARAMETER,
    HtmxHttpRequest,
    poll_query,
    render_page,
    shared_poll_answer,
    stop_polling_when_done,
)

from ..forms.overview import OverviewFilterForm
from ..selectors.overview import site_reviews, sort_by_attention


@require_GET
def overview(request: HtmxHttpRequest) -> HttpResponse:
    form = OverviewFilterForm(request.GET)
    if not form.is_valid():
        return render_page(request, "reviews/overview.html", {"form": form, "reviews": []}, status=400)
    site = form.cleaned_data["site"]
    # Read before the reviews: a change meanwhile shows at the next poll. Relative times
    # ("in 59 minutes", late) move with the clock: a new minute is a change too.
    now = timezone.now()
    version = sites_version(site_ids=None if site is None else [site.pk], now=now)
    return shared_poll_answer(request, version, lambda: _overview_drawn(request, form, version, now))


def _overview_drawn(
    request: HtmxHttpRequest, form: OverviewFilterForm, version: str, now: datetime
) -> HttpResponse:
    site = form.cleaned_data["site"]
    reviews = site_reviews(site_ids=None if site is None else [site.esa_id])
    if form.cleaned_data["sort"] == "attention":
        reviews = sort_by_attention(reviews)
    if form.cleaned_data["attention"]:
        reviews = [review for review in reviews if review.flags]
    unfinished = any(review.unfinished for review in reviews)
    # Each site's limits (status, pause, quota today and its forecast), for its card.
    limits = sites_limits(sites=[review.site for review in reviews], now=now)
    context = {
        "form": form,
        "reviews": reviews,
        "cards": [(review, limits[review.site.pk]) for review in reviews],
        "unfinished": unfinished,
        "poll_query": poll_query(request, **{VERSION_PARAMETER: version}),
        "export_query": request.GET.urlencode(),
        "mirror_age": sites_mirror_age(site_ids=None if site is None else [site.pk]),
    }
    response = render_page(request, "reviews/overview.html", context, fragment="overview-live")
    return stop_polling_when_done(request, response, unfinished=unfinished)
