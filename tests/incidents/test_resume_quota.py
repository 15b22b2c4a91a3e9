"""The resume's confirmation warns when the plans it puts back would exceed what a site's daily
prefetch quota has left: each plan's window under the resume (as it was, or the ramp's) added to
its job, against the site's schedule as it is (the held plans are parked a year ahead)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries, Settings

from prefetch_ui.incidents.models import Incident
from prefetch_ui.incidents.selectors import resume_quota_checks
from prefetch_ui.incidents.services.resumes import ResumePreview, resume_preview
from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.prefetch.models import Job, Site, SiteLimits
from prefetch_ui.prefetch.selectors.quota_checks import QuotaCheckState, QuotaDayCheck, plans_quota_check
from prefetch_ui.prefetch.selectors.site_limits import quota_days_spanned, site_quota_forecast
from tests.factories import JobFactory, PlanFactory, SiteFactory
from tests.holds import as_shown, hold_done

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _zone(settings: Settings) -> None:
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = "Asia/Shanghai"


def _active_site(*, quota: int | None, paused: bool = False, esa_id: int | None = None) -> Site:
    site = SiteFactory.create(
        status="active", **({} if esa_id is None else {"esa_id": esa_id, "name": f"site{esa_id}.example"})
    )
    now = timezone.now()
    today = now.astimezone(SHANGHAI).date()
    SiteLimits.objects.create(
        site=site,
        preload_quota=quota,
        paused=paused,
        quota_day=today,
        preload_used=0,
        counted_since=datetime(today.year, today.month, today.day, tzinfo=SHANGHAI).astimezone(UTC),
    )
    return site


def _held(site: Site, operator: User) -> tuple[Incident, Job]:
    """A hold of the site's one waiting plan: 20 URLs a minute for two hours from 10 minutes on
    (2,420 URLs), which the resume puts back as it was."""
    job = JobFactory.create(site=site, url_count=5_000, url_submitted=0)
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=10)
    PlanFactory.create(job=job, start_time=start, end_time=start + timedelta(hours=2), slice_len=20)
    return hold_done(user=operator, site=site), job


def _words(page: str) -> str:
    return " ".join(page.split())


def _sentence(day: QuotaDayCheck, site: Site) -> str:
    """What the page says of a day the resume exceeds, times in the display zone (as the page shows them)."""
    when = "today" if day.today else f"on {day.day:%b} {day.day.day}"
    return (
        f"Resuming would send {day.sends:,} URLs to {site.name} {when} (Asia/Shanghai quota day); the "
        f"daily prefetch quota of {site.name} ({day.quota:,} URLs) has {day.left:,} left that day at the "
        f"current schedule, so ESA would refuse {day.refused:,} URLs that day, the first at "
        f"{as_shown(day.runs_out_at)}."
    )


@pytest.mark.parametrize("pace", ["as_it_was", "ramp"])
def test_the_resume_warns_with_the_forecast_s_figures(
    operator: User, operator_client: Client, pace: str
) -> None:
    site = _active_site(quota=1_000)
    incident, job = _held(site, operator)
    preview = resume_preview(incident=incident, caps={} if pace == "ramp" else None)
    (check,) = resume_quota_checks(preview=preview)
    assert check.site == site and check.state == QuotaCheckState.EXCEEDED

    # The figures are the forecast's, with the windows the resume gives the plans added to the job.
    ((_, window),) = preview.put_back
    assert preview.now is not None
    added = {job.pk: [ScheduledPlan(window[0], window[1], 60, 20)]}
    days = quota_days_spanned(now=preview.now, until=window[1])
    with_plans = site_quota_forecast(site=site, now=preview.now, added=added, days=days)
    without = site_quota_forecast(site=site, now=preview.now, added={}, days=days)
    assert with_plans is not None and without is not None
    assert [(day.with_plans, day.without) for day in check.days] == [
        pair for pair in zip(with_plans, without, strict=True) if pair[0].scheduled > pair[1].scheduled
    ]
    # Nothing else is scheduled: the plan's 2,420 URLs, the quota's 1,000 a day kept on each day.
    assert check.sends == 2_420
    assert check.refused == sum(max(0, day.sends - 1_000) for day in check.days) > 0

    if pace == "ramp":
        return  # the page lays out its own ramp, a moment later
    page = operator_client.get(
        reverse("incident-resume", args=[incident.pk]), {"pace": "as_it_was"}
    ).content.decode()
    assert _words(page).count('data-testid="quota-warning"') == len(check.exceeded)
    for day in check.exceeded:
        assert _sentence(day, site) in _words(page)
    assert "A ramp spreads them further: what is sent after midnight in Asia/Shanghai counts" in page


def test_the_ramp_s_advice_is_a_lower_cap(operator: User, operator_client: Client) -> None:
    site = _active_site(quota=100)
    incident, _ = _held(site, operator)
    page = _words(operator_client.get(reverse("incident-resume", args=[incident.pk])).content.decode())
    assert 'data-testid="quota-warning"' in page
    assert f"to {site.name}" in page
    assert "A lower cap spreads them further: what is sent after midnight in Asia/Shanghai counts" in page


def test_a_resume_within_the_quota_is_said_quietly(operator: User, operator_client: Client) -> None:
    site = _active_site(quota=10_000)
    incident, _ = _held(site, operator)
    page = _words(operator_client.get(reverse("incident-resume", args=[incident.pk])).content.decode())
    assert 'data-testid="quota-warning"' not in page
    assert f"Within the daily prefetch quota of {site.name} (10,000 URLs): after the resume" in page


def test_a_paused_site_and_an_unknown_quota(operator: User, operator_client: Client) -> None:
    site = _active_site(quota=100, paused=True)
    incident, _ = _held(site, operator)
    url = reverse("incident-resume", args=[incident.pk])
    page = _words(operator_client.get(url).content.decode())
    assert 'data-testid="quota-warning"' not in page
    assert (
        f"{site.name} is paused in ESA: ESA will not run the plans put back while the site is paused, "
        "and batches due meanwhile are not made up for."
    ) in page
    SiteLimits.objects.filter(site=site).update(paused=False, preload_quota=None)
    page = _words(operator_client.get(url).content.decode())
    assert (
        f"The daily prefetch quota of {site.name} has not been read yet, so the resume is not checked "
        "against it."
    ) in page


def test_a_resume_of_every_site_checks_their_quotas_in_queries_that_do_not_grow_with_sites(
    operator: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    """A global hold's confirmation checks every site it puts plans back on: three queries in all
    (the sites' limits, their jobs and plans), each site answered as it would be alone."""
    sites = [
        _active_site(quota=quota, esa_id=100 - index) for index, quota in enumerate((100, 10_000, None, 50))
    ]
    sites.append(_active_site(quota=100, paused=True, esa_id=1))
    for site in sites:
        job = JobFactory.create(site=site, url_count=5_000, url_submitted=0)
        start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=10)
        PlanFactory.create(job=job, start_time=start, end_time=start + timedelta(hours=2), slice_len=20)
    preview = resume_preview(incident=hold_done(user=operator, site=None))
    assert preview.put_back and preview.now is not None  # laid out once, outside the count
    with django_assert_max_num_queries(3):
        checks = resume_quota_checks(preview=preview)
    assert [check.site.pk for check in checks] == [site.pk for site in sorted(sites, key=lambda s: s.name)]
    alone = {
        check.site.pk: plans_quota_check(site=check.site, now=preview.now, added=_added(preview, check.site))
        for check in checks
    }
    assert {check.site.pk: check for check in checks} == alone
    assert {check.state for check in checks} == {
        QuotaCheckState.EXCEEDED,
        QuotaCheckState.WITHIN,
        QuotaCheckState.UNKNOWN,
        QuotaCheckState.NOT_RUNNING,
    }


def _added(preview: ResumePreview, site: Site) -> dict[int, list[ScheduledPlan]]:
    """The plans the resume puts back on `site`, by job, as `resume_quota_checks` adds them."""
    added: dict[int, list[ScheduledPlan]] = {}
    for held, (start, end) in preview.put_back:
        if held.plan is not None and held.site_id == site.pk:
            added.setdefault(held.plan.job_id, []).append(
                ScheduledPlan(start, end, held.interval, held.slice_len)
            )
    return added
