"""The limits a site's pages show, from the mirror: today's quota used and left, and its forecast."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pytest_django import DjangoAssertNumQueries, Settings

from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.prefetch.models import Site, SiteLimits
from prefetch_ui.prefetch.selectors.site_limits import site_limits, site_quota_forecast, sites_limits
from tests.factories import JobFactory, PlanFactory, SiteFactory

pytestmark = pytest.mark.django_db

# 09:00 in Shanghai, the quota's zone: the day began at 16:00 UTC the day before.
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
DAY_START = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _zone(settings: Settings) -> None:
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = "Asia/Shanghai"


def _site(
    *, quota: int | None, used: int, paused: bool = False, status: str = "active", esa_id: int = 1
) -> Site:
    site = SiteFactory.create(status=status, esa_id=esa_id, name=f"site{esa_id}.example")
    SiteLimits.objects.create(
        site=site,
        preload_quota=quota,
        paused=paused,
        quota_day=date(2026, 12, 7),
        preload_used=used,
        counted_since=DAY_START,
    )
    return site


def _plan(site: Site, *, urls: int, start: datetime, interval: int = 60, slice_len: int = 100) -> None:
    job = JobFactory.create(site=site, url_count=urls, url_submitted=0)
    PlanFactory.create(
        job=job,
        start_time=start,
        end_time=start + timedelta(hours=10),
        interval=interval,
        slice_len=slice_len,
    )


def test_the_forecast_says_when_the_quota_runs_out() -> None:
    site = _site(quota=1_000, used=400)
    _plan(site, urls=2_000, start=NOW + timedelta(minutes=10))  # 100 a minute from 09:10
    view = site_limits(site=site, now=NOW)
    assert view.quota is not None and view.runs
    assert (view.quota.used, view.quota.left, view.quota.complete) == (400, 600, True)
    forecast = view.quota.forecast
    # 600 left: six batches pass (09:10 ... 09:15), the seventh, at 09:16, is the first refused.
    assert forecast.runs_out_at == NOW + timedelta(minutes=16)
    assert (forecast.scheduled, forecast.refused) == (2_000, 1_400)


def test_a_paused_or_inactive_site_sends_nothing() -> None:
    paused = _site(quota=1_000, used=0, paused=True, esa_id=1)
    for site in (paused, _site(quota=1_000, used=0, status="pending", esa_id=2)):
        _plan(site, urls=5_000, start=NOW)
        view = site_limits(site=site, now=NOW)
        assert view.quota is not None and not view.runs
        assert (view.quota.forecast.scheduled, view.quota.forecast.runs_out_at) == (0, None)


def test_a_count_of_yesterday_is_no_count_of_today() -> None:
    site = _site(quota=1_000, used=900)
    SiteLimits.objects.filter(site=site).update(quota_day=date(2026, 12, 6))
    view = site_limits(site=site, now=NOW)
    assert view.quota is not None
    assert (view.quota.used, view.quota.counted_since, view.quota.complete) == (0, NOW, False)


def test_unknown_quota_has_no_forecast() -> None:
    site = _site(quota=None, used=0)
    assert site_limits(site=site, now=NOW).quota is None
    assert site_quota_forecast(site=site, now=NOW, added={}) is None
    bare = SiteFactory.create(esa_id=999, name="bare.example")
    view = site_limits(site=bare, now=NOW)
    assert (view.quota, view.paused, view.job_count) == (None, None, 0)


def test_added_plans_join_their_job() -> None:
    site = _site(quota=1_000, used=0)
    job = JobFactory.create(site=site, url_count=3_000, url_submitted=0)
    added = [ScheduledPlan(NOW, NOW + timedelta(hours=1), 60, 100)]
    forecast = site_quota_forecast(site=site, now=NOW, added={job.pk: added})
    assert forecast is not None
    (today,) = forecast
    assert (today.scheduled, today.refused, today.runs_out_at) == (3_000, 2_000, NOW + timedelta(minutes=10))


def test_the_overview_reads_every_site_in_four_queries(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    sites = []
    for number in range(5):
        site = SiteFactory.create(esa_id=100 + number, name=f"s{number}.example", status="active")
        SiteLimits.objects.create(
            site=site, preload_quota=500, quota_day=date(2026, 12, 7), counted_since=DAY_START
        )
        _plan(site, urls=1_000, start=NOW)
        sites.append(site)
    with django_assert_num_queries(4):
        views = sites_limits(sites=sites, now=NOW)
    assert all(view.quota is not None and view.quota.forecast.refused == 500 for view in views.values())
