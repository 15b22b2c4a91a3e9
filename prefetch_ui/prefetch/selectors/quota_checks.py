"""Whether plans about to be added (a batch in the plan builder, the plans a resume puts back) fit
in what their site's daily prefetch quota has left: the quota forecast with them against the
forecast at the current schedule (`site_limits.quota_forecasts`), day by day.

A warning, not a refusal: ESA takes the plans, and refuses the URLs past the quota when their
batches come (QuotaExcess). What the check says is a forecast from the mirror, so the operator
decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.planning.quotas import QuotaDayForecast, QuotaJob

from ..models import Site, SiteLimits
from ..services.site_limits import quota_zone
from .site_limits import quota_days_spanned, quota_forecasts, quota_jobs

__all__ = ["QuotaCheck", "QuotaCheckState", "QuotaDayCheck", "plans_quota_check", "plans_quota_checks"]


class QuotaCheckState(StrEnum):
    UNKNOWN = "unknown"  # the site's prefetch quota has not been read (yet, or ESA refused it)
    NOT_RUNNING = "not_running"  # the site is paused, or not active: ESA runs no plan there
    WITHIN = "within"  # the plans make ESA refuse no URL (more than the schedule already does)
    EXCEEDED = "exceeded"  # on some quota day they do


@dataclass(frozen=True, slots=True)
class QuotaDayCheck:
    """One quota day the added plans send on: the forecast with them and without them."""

    with_plans: QuotaDayForecast
    without: QuotaDayForecast
    day: date  # its date in the quota's time zone
    today: bool

    @property
    def sends(self) -> int:
        """URLs the plans add to the day (their job's other plans may send less for them)."""
        return self.with_plans.scheduled - self.without.scheduled

    @property
    def left(self) -> int:
        """What the quota has left that day at the current schedule, before the plans."""
        return self.without.left_after

    @property
    def refused(self) -> int:
        """URLs ESA would refuse that day because of the plans (beyond what it refuses anyway)."""
        return self.with_plans.refused - self.without.refused

    @property
    def left_after(self) -> int:
        return self.with_plans.left_after

    @property
    def runs_out_at(self) -> datetime | None:
        """The batch time of the first URL refused that day, with the plans."""
        return self.with_plans.runs_out_at

    @property
    def quota(self) -> int:
        return self.with_plans.quota


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    """What the site's daily prefetch quota makes of the added plans."""

    site: Site
    state: QuotaCheckState
    paused: bool
    zone_name: str  # the quota's time zone: its midnight renews the quota
    # Every quota day the plans send on, in time order (today's first); empty unless the
    # quota is known and the site runs plans.
    days: tuple[QuotaDayCheck, ...] = ()
    # The last day checked, when the plans run past it (the forecast goes a year ahead at most).
    checked_until: date | None = None

    @property
    def exceeded(self) -> list[QuotaDayCheck]:
        return [day for day in self.days if day.refused > 0]

    @property
    def sends(self) -> int:
        return sum(day.sends for day in self.days)

    @property
    def refused(self) -> int:
        return sum(day.refused for day in self.exceeded)

    @property
    def tightest(self) -> QuotaDayCheck | None:
        """The day the plans leave the least of the quota on (the first of equals)."""
        sending = [day for day in self.days if day.sends > 0]
        return min(sending, key=lambda day: day.left_after, default=None)


def plans_quota_check(
    *, site: Site, now: datetime, added: Mapping[int, Sequence[ScheduledPlan]]
) -> QuotaCheck:
    """The site's daily prefetch quota against plans `added` to its jobs (by job pk), on every quota
    day from today's to the one of the last plan's end (a year ahead at most): three queries.

    A paused or inactive site is said before an unknown quota: it sends nothing either way.
    """
    (check,) = plans_quota_checks(sites=[site], now=now, added={site.pk: added})
    return check


def plans_quota_checks(
    *, sites: Sequence[Site], now: datetime, added: Mapping[int, Mapping[int, Sequence[ScheduledPlan]]]
) -> list[QuotaCheck]:
    """`plans_quota_check` of each of `sites` (in that order) with the plans `added` to it (by site
    pk, then job pk): three queries whatever the number of sites (a resume of every site)."""
    ids = [site.pk for site in sites]
    limits = {row.site_id: row for row in SiteLimits.objects.filter(site_id__in=ids)}
    known = [pk for pk in ids if pk in limits and limits[pk].preload_quota is not None]
    jobs = quota_jobs(site_ids=known, now=now) if known else {}
    return [
        _check(
            site=site, limits=limits.get(site.pk), jobs=jobs.get(site.pk, {}), now=now, added=added[site.pk]
        )
        for site in sites
    ]


def _check(
    *,
    site: Site,
    limits: SiteLimits | None,
    jobs: Mapping[int, QuotaJob],
    now: datetime,
    added: Mapping[int, Sequence[ScheduledPlan]],
) -> QuotaCheck:
    zone = quota_zone()
    paused = bool(limits is not None and limits.paused)
    if site.status != "active" or paused:
        return QuotaCheck(site, QuotaCheckState.NOT_RUNNING, paused, zone.key)
    until = max((plan.end for plans in added.values() for plan in plans), default=now)
    days = quota_days_spanned(now=now, until=until)
    if limits is None or limits.preload_quota is None:
        return QuotaCheck(site, QuotaCheckState.UNKNOWN, paused, zone.key)
    # With the plans and without them, from the one read of the sites' quotas, jobs and plans.
    with_plans, without = quota_forecasts(
        site=site, limits=limits, jobs=jobs, now=now, variants=[added, {}], days=days
    )
    checked = tuple(
        QuotaDayCheck(day_with, day_without, day_with.start.astimezone(zone).date(), index == 0)
        for index, (day_with, day_without) in enumerate(zip(with_plans, without, strict=True))
    )
    # A day the plans make ESA refuse on is one they send on (`QuotaDayCheck.refused` <= `sends`).
    sending = tuple(day for day in checked if day.sends > 0)
    last = with_plans[-1]
    beyond = last.end <= until
    return QuotaCheck(
        site,
        QuotaCheckState.EXCEEDED if any(day.refused for day in sending) else QuotaCheckState.WITHIN,
        paused,
        zone.key,
        days=sending,
        checked_until=last.start.astimezone(zone).date() if beyond else None,
    )
