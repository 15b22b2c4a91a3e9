"""What bounds prefetch on a site, for the limits view, the overview, the builder and the resume:
its status and pause, its prefetch quota used and left today, and the forecast of the quota at
the current schedule (`planning.quotas`), from the mirror (`SiteLimits`, read by the sync).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count

from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.planning.quotas import QuotaDayForecast, QuotaJob, quota_day, quota_forecast

from ..models import UNFINISHED_PLAN_STATUSES, Job, Site, SiteLimits
from ..services.site_limits import quota_zone
from .estimates import jobs_scheduled_plans
from .statuses import job_remaining_urls

__all__ = [
    "PurgeQuota",
    "QuotaToday",
    "SiteLimitsView",
    "quota_days_spanned",
    "quota_forecasts",
    "site_limits",
    "site_quota_forecast",
    "site_quota_forecasts",
    "sites_limits",
]


@dataclass(frozen=True, slots=True)
class QuotaToday:
    """The site's prefetch quota on today's quota day, and where the schedule takes it."""

    quota: int
    # URLs charged today as the sync counted them, complete from `counted_since` (the day's start,
    # or later when counting began during the day: then the day used at least this much).
    used: int
    counted_since: datetime
    forecast: QuotaDayForecast

    @property
    def day_start(self) -> datetime:
        return self.forecast.start

    @property
    def day_end(self) -> datetime:
        return self.forecast.end

    @property
    def complete(self) -> bool:
        """Whether the count covers the whole day so far (else `used` is a lower bound)."""
        return self.counted_since <= self.forecast.start

    @property
    def left(self) -> int:
        return self.forecast.left

    @property
    def used_percent(self) -> int:
        return 100 if self.quota <= 0 else min(100, round(100 * self.used / self.quota))


@dataclass(frozen=True, slots=True)
class PurgeQuota:
    """Purges by URL (GetPurgeQuota `file`): a day's and 30 days' quota and use (a 30-day 0: none)."""

    quota: int
    used: int
    quota_30day: int
    used_30day: int


@dataclass(frozen=True, slots=True)
class SiteLimitsView:
    """A site's limits as the mirror knows them."""

    site: Site
    # Plans run only on an `active` site that is not paused (docs/limits.md).
    active: bool
    paused: bool | None  # None: not read yet
    instance_id: str
    instance_status: str
    quota: QuotaToday | None  # None: the quota was not read (yet, or ESA refused it)
    purge: PurgeQuota | None
    read_at: datetime | None
    read_error: str
    read_error_at: datetime | None
    job_count: int

    @property
    def runs(self) -> bool:
        """Whether ESA runs the site's plans now (as far as the mirror knows)."""
        return self.active and not self.paused


def quota_jobs(*, site_ids: Iterable[int], now: datetime) -> dict[int, dict[int, QuotaJob]]:
    """Each site's jobs with URLs left, as the forecast takes them (by job pk): two queries."""
    # Only jobs with a plan that may still fire: a site's settled jobs (most of them) send nothing.
    jobs = (
        Job.objects.filter(site_id__in=list(site_ids), plans__status__in=UNFINISHED_PLAN_STATUSES)
        .distinct()
        .only("id", "site_id", "url_count", "url_submitted")
    )
    remaining = {job.pk: (job.site_id, job_remaining_urls(job)) for job in jobs}
    plans = jobs_scheduled_plans(job_ids=remaining)
    by_site: dict[int, dict[int, QuotaJob]] = defaultdict(dict)
    for job_id, (site_id, left) in remaining.items():
        if left > 0 and plans[job_id]:
            by_site[site_id][job_id] = QuotaJob(remaining_urls=left, plans=plans[job_id])
    return by_site


def _used_today(limits: SiteLimits, now: datetime) -> tuple[int, datetime]:
    """Today's count and from when it is complete; a count of another day is none yet (from now)."""
    day = now.astimezone(quota_zone()).date()
    if limits.counted_since is None or limits.quota_day != day:
        return 0, now
    return limits.preload_used, limits.counted_since


def _runs(site: Site, limits: SiteLimits | None) -> bool:
    return site.status == "active" and not (limits is not None and limits.paused)


def _forecast(
    *,
    site: Site,
    limits: SiteLimits,
    jobs: Mapping[int, QuotaJob],
    now: datetime,
    added: Mapping[int, Sequence[ScheduledPlan]],
    days: int,
) -> list[QuotaDayForecast]:
    used, _ = _used_today(limits, now)
    scheduled = dict(jobs)
    for job_id, plans in added.items():
        if plans:
            job = scheduled.get(job_id)
            if job is None:
                left = job_remaining_urls(Job.objects.only("url_count", "url_submitted").get(pk=job_id))
                job = QuotaJob(remaining_urls=left, plans=())
            scheduled[job_id] = QuotaJob(remaining_urls=job.remaining_urls, plans=[*job.plans, *plans])
    # A site ESA does not run (not active, or paused) sends nothing: no batch is charged.
    running = list(scheduled.values()) if _runs(site, limits) else []
    return quota_forecast(
        quota=limits.preload_quota or 0,
        used_today=used,
        jobs=running,
        now=now,
        zone=quota_zone(),
        days=days,
    )


def _view(
    *, site: Site, limits: SiteLimits | None, jobs: Mapping[int, QuotaJob], job_count: int, now: datetime
) -> SiteLimitsView:
    quota = purge = None
    if limits is not None and limits.preload_quota is not None:
        (today,) = _forecast(site=site, limits=limits, jobs=jobs, now=now, added={}, days=1)
        used, since = _used_today(limits, now)
        quota = QuotaToday(quota=limits.preload_quota, used=used, counted_since=since, forecast=today)
    if limits is not None and limits.purge_quota is not None:
        purge = PurgeQuota(
            quota=limits.purge_quota,
            used=limits.purge_used or 0,
            quota_30day=limits.purge_quota_30day or 0,
            used_30day=limits.purge_used_30day or 0,
        )
    return SiteLimitsView(
        site=site,
        active=site.status == "active",
        paused=None if limits is None else limits.paused,
        instance_id="" if limits is None else limits.instance_id,
        instance_status="" if limits is None else limits.instance_status,
        quota=quota,
        purge=purge,
        read_at=None if limits is None else limits.read_at,
        read_error="" if limits is None else limits.read_error,
        read_error_at=None if limits is None else limits.read_error_at,
        job_count=job_count,
    )


def site_limits(*, site: Site, now: datetime) -> SiteLimitsView:
    """The site's limits and today's quota forecast: four queries."""
    return sites_limits(sites=[site], now=now)[site.pk]


def sites_limits(*, sites: Sequence[Site], now: datetime) -> dict[int, SiteLimitsView]:
    """Each site's limits (by pk), for the overview: four queries whatever the number of sites."""
    ids = [site.pk for site in sites]
    limits = {row.site_id: row for row in SiteLimits.objects.filter(site_id__in=ids)}
    jobs = quota_jobs(site_ids=[pk for pk in ids if pk in limits], now=now)
    counts: dict[int, int] = defaultdict(int)
    counted = Job.objects.filter(site_id__in=ids).order_by().values("site_id").annotate(jobs=Count("id"))
    counts.update((row["site_id"], row["jobs"]) for row in counted)
    return {
        site.pk: _view(
            site=site,
            limits=limits.get(site.pk),
            jobs=jobs.get(site.pk, {}),
            job_count=counts[site.pk],
            now=now,
        )
        for site in sites
    }


def site_quota_forecast(
    *,
    site: Site,
    now: datetime,
    added: Mapping[int, Sequence[ScheduledPlan]],
    days: int = 1,
) -> list[QuotaDayForecast] | None:
    """The site's quota forecast with plans `added` to its jobs (by job pk: a batch being built, the
    plans a resume would restart), for the warnings before they are; None when the quota is unknown.

    `days` quota days from today's: the builder's batch may run on later days.
    """
    forecasts = site_quota_forecasts(site=site, now=now, variants=[added], days=days)
    return None if forecasts is None else forecasts[0]


def site_quota_forecasts(
    *,
    site: Site,
    now: datetime,
    variants: Sequence[Mapping[int, Sequence[ScheduledPlan]]],
    days: int = 1,
) -> list[list[QuotaDayForecast]] | None:
    """`site_quota_forecast` for each of `variants` (plans added to the site's jobs: say, a batch
    and none, to compare), from one read of the mirror. None when the quota is unknown."""
    limits = SiteLimits.objects.filter(site=site).first()
    if limits is None or limits.preload_quota is None:
        return None
    jobs = quota_jobs(site_ids=[site.pk], now=now).get(site.pk, {})
    return quota_forecasts(site=site, limits=limits, jobs=jobs, now=now, variants=variants, days=days)


def quota_forecasts(
    *,
    site: Site,
    limits: SiteLimits,
    jobs: Mapping[int, QuotaJob],
    now: datetime,
    variants: Sequence[Mapping[int, Sequence[ScheduledPlan]]],
    days: int,
) -> list[list[QuotaDayForecast]]:
    """`site_quota_forecasts` from rows the caller read: the site's `limits` (its quota known) and
    its entry of `quota_jobs`; no query."""
    return [
        _forecast(site=site, limits=limits, jobs=jobs, now=now, added=added, days=days) for added in variants
    ]


def quota_days_spanned(*, now: datetime, until: datetime) -> int:
    """How many quota days from today's to the one holding `until` (at least 1)."""
    days, end = 1, quota_day(now, quota_zone())[1]
    while end <= until and days < 366:
        days += 1
        end = quota_day(end, quota_zone())[1]
    return days
