"""The plan builder's preview warns when a batch would exceed what the site's daily prefetch quota
has left, with the quota forecast's own figures, on each quota day the batch sends on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import Settings

from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.prefetch.models import Job, Site, SiteLimits
from prefetch_ui.prefetch.selectors.site_limits import site_quota_forecast
from tests.factories import JobFactory, PlanFactory, SiteFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
HTMX = {"HX-Request": "true"}
JOB_ID = "6650eeeeeeeeeeeeeeeeeeee"


@pytest.fixture(autouse=True)
def _zone(settings: Settings) -> None:
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = "Asia/Shanghai"


def _midnight(days: int) -> datetime:
    """Midnight in Shanghai (the quota's zone) `days` quota days after today's, in UTC."""
    today = timezone.now().astimezone(SHANGHAI).date() + timedelta(days=days)
    return datetime(today.year, today.month, today.day, tzinfo=SHANGHAI).astimezone(UTC)


def _site(*, quota: int | None, paused: bool = False, status: str = "active") -> Site:
    site = SiteFactory.create(status=status)
    SiteLimits.objects.create(
        site=site,
        preload_quota=quota,
        paused=paused,
        quota_day=timezone.now().astimezone(SHANGHAI).date(),
        preload_used=0,
        counted_since=_midnight(0),
    )
    return site


def _job(site: Site) -> Job:
    return JobFactory.create(site=site, esa_id=JOB_ID, name="Sale", url_count=10_000, url_submitted=0)


def _batch(start: datetime, end: datetime, *, slice_len: int = 20) -> dict[str, object]:
    """The builder's form with one row, 60 s apart, times in UTC."""
    return {
        "zone": "UTC",
        "form_token": "f" * 24,
        "row": ["a1"],
        "start-a1": start.strftime("%Y-%m-%dT%H:%M"),
        "end-a1": end.strftime("%Y-%m-%dT%H:%M"),
        "interval-a1": "60",
        "slice_len-a1": str(slice_len),
    }


def _preview(client: Client, data: dict[str, object]) -> str:
    response = client.post(reverse("plan-builder-preview", args=[JOB_ID]), data, headers=HTMX)
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


def test_a_batch_across_midnight_is_warned_of_on_each_day_with_the_forecast_s_figures(
    operator_client: Client,
) -> None:
    site = _site(quota=1_000)
    job = _job(site)
    night = _midnight(3)  # the batch's second quota day begins
    # The job's waiting plan takes 300 of that day's quota first (5 URLs a minute, 01:00-01:59).
    PlanFactory.create(
        job=job, start_time=night + timedelta(hours=1), end_time=night + timedelta(minutes=119), slice_len=5
    )
    # 20 URLs a minute from 23:00 to 00:59 (Shanghai): 1,200 on each side of midnight.
    start, end = night - timedelta(hours=1), night + timedelta(minutes=59)
    page = _preview(operator_client, _batch(start, end))

    now = timezone.now()
    added = {job.pk: [ScheduledPlan(start, end, 60, 20)]}
    with_batch = site_quota_forecast(site=site, now=now, added=added, days=5)
    without = site_quota_forecast(site=site, now=now, added={}, days=5)
    assert with_batch is not None and without is not None
    first, second = with_batch[2], with_batch[3]
    # The forecast's figures: 1,000 left on the first day, 700 on the second (after the waiting plan).
    assert (first.scheduled - without[2].scheduled, without[2].left_after) == (1_200, 1_000)
    assert first.refused - without[2].refused == 200
    assert (second.scheduled - without[3].scheduled, without[3].left_after) == (1_200, 700)
    assert second.refused - without[3].refused == 500
    assert first.runs_out_at == night - timedelta(minutes=10)  # 50 batches of 20 pass: 23:50 is refused
    # The batch comes first that day: its 50th batch after midnight passes the quota's 1,000, so its
    # last ten batches are refused, and the waiting plan's 300 after them.
    assert second.runs_out_at == night + timedelta(minutes=50)

    def on(moment: datetime) -> str:
        return f"{moment.astimezone(SHANGHAI):%b} {moment.astimezone(SHANGHAI).day}"

    assert page.count('data-testid="quota-warning"') == 2
    assert (
        f"This batch would send 1,200 URLs on {on(start)} (Asia/Shanghai quota day); the site's daily "
        "prefetch quota (1,000 URLs) has 1,000 left that day at the current schedule, so ESA would "
        f"refuse 200 URLs that day, the first at {first.runs_out_at:%Y-%m-%d %H:%M:%S} +00:00."
    ) in page
    assert (
        f"This batch would send 1,200 URLs on {on(night)} (Asia/Shanghai quota day); the site's daily "
        "prefetch quota (1,000 URLs) has 700 left that day at the current schedule, so ESA would "
        f"refuse 500 URLs that day, the first at {second.runs_out_at:%Y-%m-%d %H:%M:%S} +00:00."
    ) in page
    assert "Spread the plans over more days or lower the batch size." in page


def test_a_batch_where_the_schedule_already_runs_out_says_so(operator_client: Client) -> None:
    site = _site(quota=1_000)
    job = _job(site)
    night = _midnight(2)
    PlanFactory.create(job=job, start_time=night, end_time=night + timedelta(minutes=59), slice_len=20)
    # The job's plan sends 1,200 from 00:00: 200 refused from 00:50; the batch adds 600 from 02:00.
    start = night + timedelta(hours=2)
    page = _preview(operator_client, _batch(start, start + timedelta(minutes=59), slice_len=10))
    assert "is already used up that day (200 URLs refused from" in page
    assert "so ESA would refuse 600 more, the first at" in page


def test_a_batch_within_the_quota_is_not_warned_of(operator_client: Client) -> None:
    site = _site(quota=5_000)
    _job(site)
    night = _midnight(2)
    page = _preview(operator_client, _batch(night - timedelta(hours=1), night + timedelta(minutes=59)))
    assert 'data-testid="quota-warning"' not in page
    # Said quietly: the tightest of its two days keeps 3,800 of 5,000.
    assert "Within the site's daily prefetch quota (5,000 URLs): after this batch 3,800 URLs are left" in page
    assert "the least of the 2 quota days it sends on" in page


@pytest.mark.parametrize("limits", ["no row", "not read"])
def test_an_unknown_quota_is_said_quietly(operator_client: Client, limits: str) -> None:
    site = _site(quota=None) if limits == "not read" else SiteFactory.create(status="active")
    _job(site)
    night = _midnight(2)
    page = _preview(operator_client, _batch(night, night + timedelta(hours=10), slice_len=100))
    assert 'data-testid="quota-warning"' not in page
    assert (
        '<p class="muted" data-testid="quota-unknown">The daily prefetch quota of example.com has not been '
        "read yet, so this batch is not checked against it.</p>"
    ) in page


@pytest.mark.parametrize(("paused", "status"), [(True, "active"), (False, "pending")])
def test_a_paused_or_inactive_site_is_warned_of(operator_client: Client, paused: bool, status: str) -> None:
    site = _site(quota=100, paused=paused, status=status)
    _job(site)
    night = _midnight(2)
    page = _preview(operator_client, _batch(night, night + timedelta(hours=10), slice_len=100))
    assert 'data-testid="quota-warning"' not in page  # it sends nothing, so nothing is refused
    if paused:
        assert (
            "example.com is paused in ESA: ESA will not run these plans while the site is paused, and "
            "batches due meanwhile are not made up for."
        ) in page
    else:
        assert "example.com is pending in ESA, and ESA runs plans only on active sites" in page


def test_no_valid_row_checks_nothing(operator_client: Client) -> None:
    _job(_site(quota=100))
    data = _batch(_midnight(2), _midnight(2)) | {"interval-a1": "0"}
    assert 'data-testid="quota-check"' not in _preview(operator_client, data)


def test_a_batch_past_the_forecast_s_year_says_it_is_not_checked(operator_client: Client) -> None:
    _job(_site(quota=100))
    later = _midnight(400)
    page = _preview(operator_client, _batch(later, later + timedelta(hours=10), slice_len=100))
    assert 'data-testid="quota-warning"' not in page
    assert "are not checked against the quota: its forecast goes a year ahead." in page
