"""The scan of ESA's limits (docs/limits.md): a site's daily prefetch quota that runs out today at
this schedule, or is used up; a site paused in ESA, and no longer paused. So operators learn of a
limit before ESA refuses the URLs, not from the refusal.

Read from the limits selector (`sites_limits`: four queries for every site) every
PREFETCH_NOTIFY_JOBS_SCAN_PERIOD seconds, not every scan: the mirror's limits change only when the
sync reads them, and the forecast only with the schedule.

Each quota event is told once per site and quota day (its key names the day, in the quota's time
zone). A later, worse forecast on the same day is not told again: the forecast moves with every
plan made or held and every sync's count, so telling each change would page people all day about
one fact, which the linked limits page shows live; the day's second fact, the quota used up, is
an event of its own. A pause is told once per pause: a `Condition` holds since when the scan saw the
site paused, and is deleted when it sees it unpaused (then `site.resumed` is told), so a site
paused, resumed and paused again is told twice.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.urls import reverse

from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.selectors.site_limits import SiteLimitsView, sites_limits
from prefetch_ui.prefetch.services.site_limits import quota_zone
from prefetch_ui.web.template_tags import in_zone

from ..messages import iso_utc
from ..models import Condition, EventKind
from .cursors import period_due
from .outbox import event_record

__all__ = ["limits_scan"]


def _local(moment: datetime | None) -> str | None:
    """The time as the dashboard shows it by default (PREFETCH_DISPLAY_TIME_ZONE, with its offset):
    a scan has no operator whose chosen zone it could use."""
    return in_zone(moment, settings.PREFETCH_DISPLAY_TIME_ZONE) if moment else None


def _quota_events(view: SiteLimitsView, *, now: datetime) -> int:
    quota = view.quota
    if quota is None:
        return 0
    site = view.site
    forecast = quota.forecast
    day = quota.day_start.astimezone(quota_zone()).date().isoformat()
    data: dict[str, object] = {
        "site": site.name,
        "site_id": site.esa_id,
        "quota_day": day,
        "quota": quota.quota,
        "used": quota.used,
        # False: the count began during the day, so `used` is at least this much.
        "used_counted_whole_day": quota.complete,
        "left": quota.left,
        "refused_urls": forecast.refused,
        "runs_out_at": iso_utc(forecast.runs_out_at),
        "runs_out_at_local": _local(forecast.runs_out_at),
        "renews_at": iso_utc(quota.day_end),
        "renews_at_local": _local(quota.day_end),
        "display_zone": settings.PREFETCH_DISPLAY_TIME_ZONE,
        "path": reverse("site-limits", args=[site.esa_id]),
    }
    # A quota of 0 is no quota used up every day: only its refusals (below) are news.
    if quota.quota > 0 and quota.used >= quota.quota:
        return int(
            event_record(
                key=f"site:{site.esa_id}:quota:{day}:used_up",
                kind=EventKind.QUOTA_USED_UP,
                title=(
                    f"The prefetch quota of {site.name} is used up today: "
                    f"{quota.used:,} of {quota.quota:,} URLs"
                ),
                data=data,
                site=site,
                occurred_at=now,
            )
            is not None
        )
    if forecast.runs_out_at is None or forecast.refused <= 0:
        return 0
    return int(
        event_record(
            key=f"site:{site.esa_id}:quota:{day}:runs_out",
            kind=EventKind.QUOTA_RUNS_OUT,
            title=(
                f"The prefetch quota of {site.name} runs out today at {_local(forecast.runs_out_at)}: "
                f"{forecast.refused:,} URL(s) will be refused"
            ),
            data=data,
            site=site,
            occurred_at=now,
        )
        is not None
    )


def _pause_events(view: SiteLimitsView, *, pauses: dict[str, Condition], now: datetime) -> int:
    """A pause seen, and its end (`pauses`: the pauses seen before, by key). Unknown (never read)
    is neither."""
    if view.paused is None:
        return 0
    site = view.site
    key = f"site:{site.esa_id}:paused"
    found = pauses.get(key)
    if view.paused and found is None:
        # Since the read that first showed it paused (the mirror's read time), as the scan saw it.
        found, _ = Condition.objects.get_or_create(key=key, defaults={"since": view.read_at or now})
    if found is None:
        return 0
    condition = found
    since = int(condition.since.timestamp())
    data: dict[str, object] = {
        "site": site.name,
        "site_id": site.esa_id,
        "paused_since": iso_utc(condition.since),
        "paused_since_local": _local(condition.since),
        "display_zone": settings.PREFETCH_DISPLAY_TIME_ZONE,
        "path": reverse("site-limits", args=[site.esa_id]),
    }
    if view.paused:
        return int(
            event_record(
                key=f"{key}:{since}",
                kind=EventKind.SITE_PAUSED,
                title=f"Site {site.name} is paused in ESA: its plans do not run",
                data=data,
                site=site,
                occurred_at=condition.since,
            )
            is not None
        )
    recorded = event_record(
        key=f"site:{site.esa_id}:resumed:{since}",
        kind=EventKind.SITE_RESUMED,
        title=f"Site {site.name} is no longer paused in ESA: its plans run again",
        data={**data, "resumed_seen_at": iso_utc(view.read_at or now)},
        site=site,
        occurred_at=view.read_at or now,
    )
    # After the event: a scan that fails between the two tells the resume once all the same.
    Condition.objects.filter(pk=condition.pk).delete()
    return int(recorded is not None)


def limits_scan(*, now: datetime) -> int:
    """Record the limits' events of every site whose limits the sync read; returns how many were new."""
    if not period_due(name="limits", now=now, period=settings.PREFETCH_NOTIFY_JOBS_SCAN_PERIOD):
        return 0
    sites = list(Site.objects.filter(limits__isnull=False).order_by("pk"))
    if not sites:
        return 0
    views = sites_limits(sites=sites, now=now)
    pauses = {
        condition.key: condition
        for condition in Condition.objects.filter(key__startswith="site:", key__endswith=":paused")
    }
    recorded = 0
    for site in sites:
        view = views[site.pk]
        recorded += _pause_events(view, pauses=pauses, now=now) + _quota_events(view, now=now)
    return recorded
