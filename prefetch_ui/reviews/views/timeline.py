"""The timeline: plans over a window as lanes of bars, and the origin load forecast."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from prefetch_ui.core.parameters import page_number
from prefetch_ui.planning.local_time import utc_to_local_input
from prefetch_ui.prefetch.selectors.mirror_age import sites_mirror_age
from prefetch_ui.prefetch.selectors.sites import sites_version
from prefetch_ui.web.display_zone import display_zone
from prefetch_ui.web.htmx import (
    POLL_PARAMETER,
    VERSION_PARAMETER,
    HtmxHttpRequest,
    poll_query,
    render_page,
    shared_poll_answer,
    stop_polling_when_done,
)

from ..forms.timeline import SPAN_LABELS, TimelineFilterForm, window_zooms
from ..selectors.timeline import timeline as timeline_of

TEMPLATE = "reviews/timeline.html"


@require_GET
def timeline(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    form = TimelineFilterForm(request.GET, now=now)
    if not form.is_valid():
        return render_page(request, TEMPLATE, {"form": form, "spans": SPAN_LABELS}, status=400)
    site = form.cleaned_data["site"]
    # Read before the picture: a change meanwhile shows at the next poll. The now-line and the
    # default window move with the clock: a new minute is a change too.
    version = sites_version(site_ids=None if site is None else [site.pk], now=now)
    return shared_poll_answer(request, version, lambda: _timeline_drawn(request, form, version, now=now))


def _timeline_drawn(
    request: HtmxHttpRequest, form: TimelineFilterForm, version: str, *, now: datetime
) -> HttpResponse:
    start, end = form.cleaned_data["window"]
    site = form.cleaned_data["site"]
    picture = timeline_of(
        start=start,
        end=end,
        now=now,
        zone=display_zone(),
        site=site,
        page_number=page_number(request),
    )
    query = request.GET.copy()
    for key in ("page", "poll"):
        query.pop(key, None)
    zone = display_zone()
    zooms = {}
    # Links, so that a zoomed window is an address to share and works without JavaScript.
    for name, window in window_zooms(start, end).items():
        if window is not None:
            zoomed = query.copy()
            for key in ("span", VERSION_PARAMETER, POLL_PARAMETER):
                zoomed.pop(key, None)
            zoomed["start"], zoomed["end"] = (utc_to_local_input(moment, zone) for moment in window)
            zooms[name] = zoomed.urlencode()
    context = {
        "form": form,
        "spans": SPAN_LABELS,
        "timeline": picture,
        "page": picture.page,
        "window_inputs": form.window_inputs(),
        "query": query.urlencode(),
        "zooms": zooms,
        "poll_query": poll_query(request, page=picture.page.number, **{VERSION_PARAMETER: version}),
        "mirror_age": sites_mirror_age(site_ids=None if site is None else [site.pk], now=now),
    }
    response = render_page(request, TEMPLATE, context, fragment="timeline-live")
    return stop_polling_when_done(request, response, unfinished=picture.unfinished)
