"""The limits pages: every site's limits, and one site's; and the one-line summary the site page
polls. Each is the same for every viewer, so a poll is answered once per change for all
(`shared_poll_answer`); the forecast moves with the clock, so a new minute is a change too."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.selectors.job_cap import job_cap_refusal, site_job_cap
from prefetch_ui.prefetch.selectors.mirror_age import sites_mirror_age
from prefetch_ui.prefetch.selectors.site_limits import site_limits
from prefetch_ui.prefetch.selectors.sites import sites_version
from prefetch_ui.prefetch.services.site_limits import quota_zone
from prefetch_ui.web.htmx import (
    POLL_PARAMETER,
    VERSION_PARAMETER,
    HtmxHttpRequest,
    poll_query,
    render_page,
    shared_poll_answer,
)

from .selectors import sites_limits_by_attention


def _explained() -> dict[str, object]:
    """What every limits page says of the quota's day and of how often ESA is read."""
    minutes = max(1, round(settings.PREFETCH_SYNC_LIMITS_PERIOD / 60))
    return {
        "quota_zone": quota_zone().key,
        "limits_read_every": "every minute" if minutes == 1 else f"every {minutes} minutes",
    }


@require_GET
def limits_list(request: HtmxHttpRequest) -> HttpResponse:
    """Every site's limits, those that stop prefetch (or will today) first."""
    now = timezone.now()
    # Read before the limits: a change meanwhile shows at the next poll.
    version = sites_version(now=now)

    def drawn() -> HttpResponse:
        rows = sites_limits_by_attention(now=now)
        context = {
            **_explained(),
            "rows": rows,
            "poll_query": poll_query(request, **{VERSION_PARAMETER: version}),
            "mirror_age": sites_mirror_age(site_ids=None, now=now),
        }
        return render_page(request, "limits/limits_list.html", context, fragment="limits-live")

    return shared_poll_answer(request, version, drawn)


@require_GET
def site_limits_page(request: HtmxHttpRequest, site_esa_id: int) -> HttpResponse:
    """One site's limits: whether ESA runs its plans, its quota today and forecast, purge, jobs."""
    site = get_object_or_404(Site, esa_id=site_esa_id)
    now = timezone.now()
    version = sites_version(site_ids=[site.pk], now=now)

    def drawn() -> HttpResponse:
        # Read again after the token: its status may have changed since the first read.
        current = get_object_or_404(Site, pk=site.pk)
        # ESA does not publish the job cap: what its latest refusal of one more job taught, if any.
        cap = site_job_cap(site=current)
        context = {
            **_explained(),
            "site": current,
            "limits": site_limits(site=current, now=now),
            "job_cap": "" if cap is None else job_cap_refusal(cap),
            "poll_query": poll_query(request, **{VERSION_PARAMETER: version}),
            "mirror_age": sites_mirror_age(site_ids=[site.pk], now=now),
        }
        return render_page(request, "limits/site_limits.html", context, fragment="limits-live")

    return shared_poll_answer(request, version, drawn)


@require_GET
def site_limits_summary(request: HtmxHttpRequest, site_esa_id: int) -> HttpResponse:
    """The site page's line of its limits ("Prefetch quota today: 4,000 of 10,000 used · runs out
    at …"), polled by that page on its own: the page's jobs may stop polling, its limits never do."""
    site = get_object_or_404(Site, esa_id=site_esa_id)
    now = timezone.now()
    version = sites_version(site_ids=[site.pk], now=now)

    def drawn() -> HttpResponse:
        current = get_object_or_404(Site, pk=site.pk)
        context = {
            "limits": site_limits(site=current, now=now),
            "summary_poll": urlencode({POLL_PARAMETER: 1, VERSION_PARAMETER: version}),
        }
        return render(request, "prefetch/_limits_summary.html", context)

    return shared_poll_answer(request, version, drawn)
