"""The timeline's lanes (issue 20): a job's overlapping plans stacked in sub-lanes (and counted past
`MAX_ROWS`), each bar's facts ready for a click, zoom links that are addresses, a week view with its
days named, and statuses told apart by more than their colour; the poll still costs nothing when
nothing changed."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from itertools import pairwise
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from prefetch_ui.prefetch.models import Site
from prefetch_ui.reviews.charts import Axis, pack_rows
from prefetch_ui.reviews.forms.timeline import window_zooms
from prefetch_ui.reviews.selectors.timeline import BAR_HEIGHT, MAX_ROWS, timeline
from tests.factories import JobFactory, PlanFactory

HTMX = {"HX-Request": "true"}
UTC = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")

spans = st.lists(
    st.tuples(st.integers(0, 200), st.integers(1, 60)).map(lambda pair: (pair[0], pair[0] + pair[1])),
    max_size=40,
)


@given(spans)
def test_packed_rows_never_overlap_and_are_as_few_as_the_busiest_instant(
    intervals: list[tuple[int, int]],
) -> None:
    rows, count = pack_rows([(float(start), float(end)) for start, end in intervals])
    assert len(rows) == len(intervals)
    assert all(0 <= row < count for row in rows)
    for row in range(count):
        mine = sorted(interval for interval, placed in zip(intervals, rows, strict=True) if placed == row)
        assert all(end <= next_start for (_, end), (next_start, _) in pairwise(mine))
    # Half-open spans: the most that hold one instant is counted at the starts.
    busiest = max(
        (sum(1 for start, end in intervals if start <= moment < end) for moment, _ in intervals), default=0
    )
    assert count == busiest


def test_packing_keeps_a_plan_that_starts_where_another_ends_in_its_row() -> None:
    assert pack_rows([(0.0, 10.0), (10.0, 20.0), (5.0, 15.0)]) == ([0, 0, 1], 2)


def _overlapping(site: Site, count: int, now: datetime) -> list[object]:
    job = JobFactory.create(site=site, name="Six at once", url_count=600)
    return [
        PlanFactory.create(
            job=job,
            status="waiting",
            start_time=now + timedelta(minutes=10 * n),
            end_time=now + timedelta(hours=3),
        )
        for n in range(count)
    ]


@pytest.mark.django_db
def test_six_overlapping_plans_of_a_job_get_six_sub_lanes(site: Site) -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    _overlapping(site, 6, now)
    picture = timeline(start=now - timedelta(hours=6), end=now + timedelta(hours=18), now=now, zone=UTC)
    (lane,) = picture.groups[0].lanes
    assert lane.rows == 6 and len(lane.bars) == 6 and lane.hidden == 0
    tops = sorted(bar.y for bar in lane.bars)
    assert all(upper + BAR_HEIGHT < lower for upper, lower in pairwise(tops))
    # The lane grows to hold them: the picture is taller than with one plan.
    assert picture.height >= lane.bar_y + 6 * BAR_HEIGHT


@pytest.mark.django_db
def test_past_the_cap_a_bar_counts_the_plans_it_has_no_room_for(site: Site, viewer_client: Client) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    plans = _overlapping(site, MAX_ROWS + 3, now)
    picture = timeline(start=now - timedelta(hours=6), end=now + timedelta(hours=18), now=now, zone=UTC)
    (lane,) = picture.groups[0].lanes
    assert lane.rows == MAX_ROWS and len(lane.bars) == MAX_ROWS and lane.hidden == 3
    (counting,) = [bar for bar in lane.bars if bar.more]
    assert len(counting.more) == 3
    page = viewer_client.get(reverse("timeline")).content.decode()
    assert '<text class="tl-more"' in page and ">+3</text>" in page
    assert 'data-more="3"' in page
    assert "3 more plans of this job, not drawn" in page
    assert f"{MAX_ROWS + 3} plans, {MAX_ROWS} side by side" in page
    # Every plan is somewhere: drawn, or named in the facts of the bar that counts it.
    for plan in plans:
        assert f"…{plan.short_id}" in page  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_each_bar_has_its_facts_ready_beside_a_link_to_its_job(site: Site, viewer_client: Client) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    job = JobFactory.create(site=site, name="Spring sale", url_count=100, url_submitted=40)
    plan = PlanFactory.create(
        job=job, status="running", start_time=now - timedelta(hours=1), end_time=now + timedelta(hours=2)
    )
    page = viewer_client.get(reverse("timeline")).content.decode()
    match = re.search(rf'<template id="facts-{plan.esa_id}">(.*?)</template>', page, re.S)
    assert match is not None
    facts = match.group(1)
    job_page = reverse("job-detail", args=[job.esa_id])
    assert f"Plan …{plan.short_id}" in facts and f'href="{job_page}"' in facts
    shown = ("Spring sale", site.name, "running", "10 URLs every 60 s (10.0 a minute)", "40 of 100 submitted")
    for fact in shown:
        assert fact in facts, fact
    assert 'data-fact="estimate"' in facts and 'data-estimate="finishes"' in facts
    # Without JavaScript the bar is still a link to the job.
    assert re.search(rf'<a href="{job_page}" class="tl-bar-link" data-plan="{plan.esa_id}"', page)


@pytest.mark.django_db
def test_a_failed_plans_facts_say_its_job_failed(site: Site, viewer_client: Client) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    job = JobFactory.create(site=site, name="Sale", url_count=100, url_submitted=100)
    plan = PlanFactory.create(
        job=job, status="failed", start_time=now - timedelta(hours=2), end_time=now - timedelta(hours=1)
    )
    page = viewer_client.get(reverse("timeline")).content.decode()
    match = re.search(rf'<template id="facts-{plan.esa_id}">(.*?)</template>', page, re.S)
    assert match is not None
    assert "Every URL submitted, but a plan failed" in match.group(1)
    assert "Done: every URL submitted" not in match.group(1)


def test_zoom_in_halves_the_window_around_its_centre_and_zoom_out_doubles_it() -> None:
    start = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    end = start + timedelta(hours=24)
    zooms = window_zooms(start, end)
    assert zooms["zoom_in"] == (start + timedelta(hours=6), end - timedelta(hours=6))
    assert zooms["zoom_out"] == (start - timedelta(hours=12), end + timedelta(hours=12))
    assert zooms["earlier"] == (start - timedelta(hours=12), end - timedelta(hours=12))
    assert zooms["later"] == (start + timedelta(hours=12), end + timedelta(hours=12))
    week = window_zooms(start, start + timedelta(days=7))
    assert week["zoom_out"] is None  # the timeline shows 7 days at most
    assert window_zooms(start, start + timedelta(minutes=45))["zoom_in"] is None


def _links(page: str) -> dict[str, dict[str, list[str]]]:
    found = re.findall(r'<a href="\?([^"]*)" data-zoom="(\w+)"', page)
    return {name: parse_qs(html.unescape(query)) for query, name in found}


@pytest.mark.django_db
def test_the_zoom_links_are_addresses_of_the_halved_window(site: Site, viewer_client: Client) -> None:
    _overlapping(site, 1, timezone.now())
    window = {"start": "2026-12-04T08:00", "end": "2026-12-05T08:00", "site": str(site.esa_id)}
    page = viewer_client.get(reverse("timeline"), window).content.decode()
    links = _links(page)
    assert links["in"] == {
        "start": ["2026-12-04T14:00"],
        "end": ["2026-12-05T02:00"],
        "site": [str(site.esa_id)],
    }
    assert links["out"]["start"] == ["2026-12-03T20:00"] and links["out"]["end"] == ["2026-12-05T20:00"]
    # Followed, the link shows that window.
    zoomed = viewer_client.get(reverse("timeline"), {key: values[0] for key, values in links["in"].items()})
    assert zoomed.status_code == 200
    assert 'value="2026-12-04T14:00"' in zoomed.content.decode()


def test_a_week_view_names_its_seven_days_at_their_noons_with_a_line_at_each_midnight() -> None:
    start = datetime(2026, 12, 3, 7, 20, tzinfo=UTC)  # 15:20 in Shanghai
    axis = Axis(start, start + timedelta(days=7), SHANGHAI)
    assert axis.by_days
    days = axis.days
    names = ["Fri 04", "Sat 05", "Sun 06", "Mon 07", "Tue 08", "Wed 09", "Thu 10"]
    assert [day.label for day in days] == names
    assert all(day.line_x is not None for day in days)
    # The hours between: 06:00, 12:00 and 18:00 of each day.
    assert {tick.label for tick in axis.ticks} == {"06:00", "12:00", "18:00"}
    assert not Axis(start, start + timedelta(hours=24), SHANGHAI).by_days


@pytest.mark.django_db
def test_the_week_preset_draws_seven_day_labels(site: Site, viewer_client: Client) -> None:
    _overlapping(site, 1, timezone.now())
    page = viewer_client.get(reverse("timeline"), {"span": "week"}).content.decode()
    assert page.count('<text class="day-label"') == 7
    assert 'class="timeline by-days"' in page and 'class="tick-label hour"' in page


@pytest.mark.django_db
def test_every_preset_label_says_its_whole_window(site: Site, viewer_client: Client) -> None:
    """The week preset, "Last day, next 6", read as cut off (next 6 what?): each label names its unit."""
    _overlapping(site, 1, timezone.now())
    page = viewer_client.get(reverse("timeline")).content.decode()
    presets = re.search(r'<nav class="presets"[^>]*>(.*?)</nav>', page, re.S)
    assert presets is not None
    labels = re.findall(r">([^<]+)</a>", presets.group(1))
    assert labels == ["Last 6 h, next 18 h", "Next 24 h", "Last 24 h", "Next 3 days", "Last day, next 6 days"]
    assert all(re.search(r"\d+ (h|days)$", label) for label in labels)


@pytest.mark.django_db
def test_every_status_has_its_own_fill_and_the_legend_names_it(site: Site, viewer_client: Client) -> None:
    now = timezone.now()
    _overlapping(site, 1, now)
    page = viewer_client.get(reverse("timeline")).content.decode()
    for pattern in ("tl-hollow", "tl-stripes", "tl-cross", "tl-dots", "held-hatch"):
        assert f'<pattern id="{pattern}"' in page, pattern
    legend = (
        "waiting (hollow)",
        "running (striped)",
        "finished (solid)",
        "failed (cross-hatched)",
        "stopped (dotted)",
    )
    for words in legend:
        assert words in page, words


@pytest.mark.django_db
def test_a_poll_of_a_zoomed_window_with_nothing_changed_answers_204_at_once(
    site: Site, viewer_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    _overlapping(site, 8, now)
    first = viewer_client.get(reverse("timeline")).content.decode()
    zoom_in = re.search(r'<a href="\?([^"]*)" data-zoom="in"', first)
    assert zoom_in is not None
    zoomed = viewer_client.get(f"{reverse('timeline')}?{html.unescape(zoom_in.group(1))}")
    poll = re.search(r'id="timeline-live"[^>]*hx-get="([^"]+)"', zoomed.content.decode())
    assert poll is not None
    with CaptureQueriesContext(connection) as asked:
        response = viewer_client.get(html.unescape(poll.group(1)), headers=HTMX)
    assert (response.status_code, response.content) == (204, b"")
    # The session, the user and the sites' version: not the lanes, the facts or the estimates.
    assert len(asked) <= 4
