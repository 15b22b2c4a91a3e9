"""/api/v1/limits and /api/v1/sites/{site_id}/limits: what bounds prefetch on each site (scope
`read`), from the selector the limits pages read, so the numbers are theirs (docs/limits.md)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router

from prefetch_ui.prefetch.selectors.site_limits import SiteLimitsView, site_limits, sites_limits
from prefetch_ui.prefetch.selectors.sites import site_list
from prefetch_ui.web.request_ids import id_number

from .errors import not_found
from .lists import REFUSALS
from .schemas_limits import SiteLimitsOut

router = Router(tags=["limits"])


def _out(view: SiteLimitsView) -> dict[str, object]:
    quota = view.quota
    purge = view.purge
    return {
        "site_id": view.site.esa_id,
        "site_name": view.site.name,
        "status": view.site.status,
        "paused": view.paused,
        "runs": view.runs,
        "instance_id": view.instance_id,
        "instance_status": view.instance_status,
        "job_count": view.job_count,
        "read_at": view.read_at,
        "read_error": view.read_error,
        "prefetch_quota": None
        if quota is None
        else {
            "quota": quota.quota,
            "used": quota.used,
            "left": quota.left,
            "counted_since": quota.counted_since,
            "complete": quota.complete,
            "day_start": quota.day_start,
            "day_end": quota.day_end,
            "scheduled": quota.forecast.scheduled,
            "runs_out_at": quota.forecast.runs_out_at,
            "refused": quota.forecast.refused,
        },
        "purge_quota": None
        if purge is None
        else {
            "quota": purge.quota,
            "used": purge.used,
            "quota_30day": purge.quota_30day,
            "used_30day": purge.used_30day,
        },
    }


@router.get(
    "/limits",
    url_name="api-limits",
    response={200: list[SiteLimitsOut], **REFUSALS},
)
def limits(request: HttpRequest) -> list[dict[str, object]]:
    """Every site's limits: status and pause, today's prefetch quota and its forecast, purge quota."""
    sites = list(site_list())
    views = sites_limits(sites=sites, now=timezone.now())
    return [_out(views[site.pk]) for site in sites]


@router.get(
    "/sites/{site_id}/limits",
    url_name="api-site-limits",
    response={200: SiteLimitsOut, **REFUSALS},
)
def site_limits_read(request: HttpRequest, site_id: str) -> dict[str, object]:
    """One site's limits, by ESA's site id."""
    number = id_number(site_id)
    site = site_list().filter(esa_id=number).first() if number is not None else None
    if site is None:
        raise not_found(field="site_id", what="site")
    return _out(site_limits(site=site, now=timezone.now()))
