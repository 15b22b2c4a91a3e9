"""The timeline: a bar per plan in the window, where now is, the origin load forecast per site, the
window's filters, and a query count that does not grow with the jobs and plans."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.reviews.charts import Axis, load_chart
from prefetch_ui.reviews.selectors.timeline import LANES_PER_PAGE, timeline
from tests.factories import JobFactory, PlanFactory, SiteFactory
from tests.review_estate import ReviewEstate, review_estate_create

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")


@pytest.fixture
def estate(operator: User) -> ReviewEstate:
    return review_estate_create(now=timezone.now().replace(second=0, microsecond=0), held_by=operator)


def test_a_bar_per_plan_in_the_window_grouped_by_site_with_the_now_line(estate: ReviewEstate) -> None:
    picture = timeline(
        start=estate.now - timedelta(hours=6), end=estate.now + timedelta(hours=18), now=estate.now, zone=UTC
    )
    bars = {bar.plan.esa_id: bar for group in picture.groups for lane in group.lanes for bar in lane.bars}
    # The plan parked a year ahead by the hold is outside the window; every other plan has its bar.
    assert set(bars) == {plan.esa_id for key, plan in estate.plans.items() if key != "held-parked"}
    assert [group.site for group in picture.groups] == [estate.site, estate.shop]
    assert [group.hold for group in picture.groups] == [None, estate.hold]
    # 1 h before now to 2 h after, in a window from 6 h before to 18 h after.
    running = bars[estate.plans["running"].esa_id]
    assert (running.x, running.width, running.urls_per_minute) == (20.833, 12.5, 10.0)
    assert picture.now_x == 25.0
    assert picture.unfinished
    # Lanes stack down the picture without overlapping.
    lanes = [lane for group in picture.groups for lane in group.lanes]
    assert all(upper.bar_y < lower.label_y for upper, lower in pairwise(lanes))


def test_a_plan_longer_than_the_window_is_clipped_to_it(site: object) -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    PlanFactory.create(
        job=JobFactory.create(site=site), start_time=now - timedelta(days=2), end_time=now + timedelta(days=2)
    )
    picture = timeline(start=now - timedelta(hours=1), end=now + timedelta(hours=1), now=now, zone=UTC)
    (bar,) = picture.groups[0].lanes[0].bars
    assert (bar.x, bar.width) == (0.0, 100.0)


def test_the_forecast_counts_what_waiting_and_running_plans_will_send_per_site(estate: ReviewEstate) -> None:
    picture = timeline(
        start=estate.now - timedelta(hours=6), end=estate.now + timedelta(hours=18), now=estate.now, zone=UTC
    )
    # shop.example.net is held: a stopped plan and a parked one send nothing in the window.
    (load,) = picture.loads
    assert load.site == estate.site
    # In the first minute: "Spring sale" 10, "Short window" 5, "Late starter" (runs at once) 10.
    assert load.peak == (estate.now, 25)
    # Everything left of the jobs that will finish, and what the short window can still send.
    assert load.total == 600 + 500 + 200 + 11 * 5
    assert picture.total_load is None  # one site sends: no every-site chart


def test_two_sites_sending_get_a_chart_together(estate: ReviewEstate) -> None:
    other = SiteFactory.create(esa_id=77, name="cdn.example.org")
    PlanFactory.create(
        job=JobFactory.create(site=other, url_count=100),
        status="waiting",
        start_time=estate.now + timedelta(minutes=30),
        end_time=estate.now + timedelta(hours=1),
        interval=60,
        slice_len=50,
    )
    picture = timeline(
        start=estate.now - timedelta(hours=6), end=estate.now + timedelta(hours=18), now=estate.now, zone=UTC
    )
    assert [load.site.name for load in picture.loads] == ["cdn.example.org", "example.com"]
    total = picture.total_load
    assert total is not None
    assert total.total == sum(load.total for load in picture.loads) == 1355 + 100
    # The every-site peak: at +30 min example.com's waiting and running plans send 10 ("Spring sale")
    # and cdn.example.org 50.
    assert total.peak == (estate.now + timedelta(minutes=30), 60)


def test_a_window_in_the_past_has_no_forecast(estate: ReviewEstate) -> None:
    picture = timeline(start=estate.now - timedelta(hours=24), end=estate.now, now=estate.now, zone=UTC)
    assert picture.loads == [] and picture.total_load is None


def test_ticks_fall_on_round_local_times_and_midnight_names_the_day() -> None:
    start = datetime(2026, 12, 4, 3, 20, tzinfo=UTC)  # 11:20 in Shanghai
    axis = Axis(start, start + timedelta(hours=24), SHANGHAI)
    labels = [tick.label for tick in axis.ticks]
    assert labels == ["12:00", "15:00", "18:00", "21:00", "05 Dec", "03:00", "06:00", "09:00"]
    assert axis.ticks[0].x == round(100 * 40 / (24 * 60), 3)


def test_the_load_chart_shows_each_buckets_busiest_minute_on_a_round_scale() -> None:
    start = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    axis = Axis(start, start + timedelta(hours=24), UTC)
    per_minute = [0] * (24 * 60)
    per_minute[60:70] = [3] * 10
    per_minute[65] = 37
    chart = load_chart(axis=axis, start=start, urls_per_minute=per_minute, height=100)
    assert chart.bucket == timedelta(minutes=10) and chart.scale_max == 50
    (bar,) = chart.bars
    assert (bar.urls_per_minute, bar.start, bar.height, bar.y) == (
        37,
        start + timedelta(minutes=60),
        74.0,
        26.0,
    )


def test_the_page_draws_bars_and_the_now_line_and_polls_while_plans_run(
    estate: ReviewEstate, viewer_client: Client
) -> None:
    page = viewer_client.get(reverse("timeline")).content.decode()
    assert 'data-testid="now-line"' in page
    assert page.count('class="tl-bar ') == 9
    assert f'data-plan="{estate.plans["failed"].esa_id}" data-status="failed"' in page
    assert 'Peak <strong data-testid="load-peak">' in page
    assert 'hx-trigger="every 15s, poll-now"' in page
    assert "From (Asia/Shanghai)" in page and "+08:00" in page


def test_a_window_with_nothing_says_so(estate: ReviewEstate, viewer_client: Client) -> None:
    page = viewer_client.get(reverse("timeline"), {"start": "2020-01-01T00:00", "end": "2020-01-02T00:00"})
    body = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="timeline-empty"' in body and "Try a wider window." in body
    assert "This window has ended: a forecast looks ahead." in body
    assert 'hx-get="' not in body  # nothing there can change


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2026-01-02T00:00", "end": "2026-01-01T00:00"}, "“To” must be after “From”."),
        ({"start": "2026-01-01T00:00", "end": "2026-01-09T00:00"}, "the timeline shows at most 7 days"),
        ({"start": "yesterday", "end": "2026-01-01T00:00"}, "From is not a date and time"),
        ({"start": "2026-01-01T00:00", "end": ""}, "To is required."),
        ({"span": "forever"}, "Select a valid choice."),
        ({"site": "-1"}, "“-1” is not a site this dashboard knows."),
    ],
)
def test_a_bad_window_or_site_says_what_is_wrong(
    estate: ReviewEstate, viewer_client: Client, query: dict[str, str], message: str
) -> None:
    response = viewer_client.get(reverse("timeline"), query)
    assert response.status_code == 400
    assert message in response.content.decode()
    csv = viewer_client.get(reverse("plans-csv"), query)
    assert csv.status_code == 400 and message in csv.content.decode()


def _queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("timeline")).status_code == 200
    return len(captured)


def test_the_query_count_does_not_grow_with_jobs_and_plans(
    estate: ReviewEstate, viewer_client: Client
) -> None:
    before = _queries(viewer_client)
    for number in range(3):
        other = SiteFactory.create(esa_id=500 + number, name=f"site{number}.example")
        for _ in range(LANES_PER_PAGE):
            job = JobFactory.create(site=other, url_count=100)
            for hours in (-3, 1, 5):
                PlanFactory.create(
                    job=job,
                    status="waiting" if hours > 0 else "finished",
                    start_time=estate.now + timedelta(hours=hours),
                    end_time=estate.now + timedelta(hours=hours + 1),
                )
    assert _queries(viewer_client) == before
    page = viewer_client.get(reverse("timeline")).content.decode()
    assert f"Page 1 of 4 ({3 * LANES_PER_PAGE + 8} jobs)" in page
