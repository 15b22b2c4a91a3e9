"""Reads of the limits pages: every site's limits, those that need a look first."""

from __future__ import annotations

from datetime import datetime

from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.selectors.site_limits import SiteLimitsView, sites_limits

__all__ = ["limits_need_attention", "sites_limits_by_attention"]


def limits_need_attention(limits: SiteLimitsView) -> bool:
    """Whether a site's limits stop prefetch, or will today: ESA does not run its plans (not active,
    or paused), its quota is used up or will run out at this schedule, or ESA refused to tell them."""
    quota = limits.quota
    return (
        not limits.runs
        or bool(limits.read_error)
        or (quota is not None and (quota.left == 0 or quota.forecast.refused > 0))
    )


def sites_limits_by_attention(*, now: datetime) -> list[tuple[SiteLimitsView, bool]]:
    """Every site's limits at `now` and whether they need attention, those that do first, each part
    by name: five queries whatever the number of sites."""
    views = sites_limits(sites=list(Site.objects.order_by("name", "pk")), now=now)
    rows = [(limits, limits_need_attention(limits)) for limits in views.values()]
    return sorted(rows, key=lambda row: not row[1])
