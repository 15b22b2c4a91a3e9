"""CSV exports of jobs and plans: the pages' filters, times with their offset, formulas neutralised."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.reviews.views.exports import JOB_COLUMNS, PLAN_COLUMNS
from tests.csv_download import csv_table
from tests.factories import JobFactory
from tests.review_estate import ReviewEstate, review_estate_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(operator: User) -> ReviewEstate:
    return review_estate_create(now=timezone.now().replace(second=0, microsecond=0), held_by=operator)


def _rows(
    client: Client, name: str, query: dict[str, str] | None = None
) -> tuple[list[str], list[dict[str, str]]]:
    response = client.get(reverse(name), query or {})
    assert response.status_code == 200
    assert response.streaming  # written as it is read: any number of rows, flat memory
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return csv_table(response)


def test_the_jobs_csv_has_every_job_with_its_outlook(estate: ReviewEstate, viewer_client: Client) -> None:
    header, rows = _rows(viewer_client, "jobs-csv")
    assert header == list(JOB_COLUMNS)
    by_name = {row["job"]: row for row in rows}
    assert set(by_name) == {job.name for job in estate.jobs.values()}
    spring = by_name["Spring sale"]
    assert (spring["urls"], spring["urls_submitted"], spring["urls_remaining"]) == ("1000", "400", "600")
    assert (spring["plans_running"], spring["plans_finished"], spring["needs_attention"]) == ("1", "1", "")
    finish = datetime.fromisoformat(spring["estimated_finish"])
    assert finish.utcoffset() == timedelta(hours=8)  # the display zone's offset, stated
    assert estate.now + timedelta(minutes=58) <= finish <= estate.now + timedelta(minutes=61)
    broken = by_name["Broken links"]
    assert (broken["needs_attention"], broken["urls_without_plan"], broken["estimated_finish"]) == (
        "failed stalled",
        "80",
        "",
    )
    assert broken["error_info"] == "InvalidDomain: invalid domain:test.com"
    held = by_name["Shop warm-up"]
    assert (held["needs_attention"], held["held_by_incident"]) == ("held", str(estate.hold.pk))
    assert by_name["Done already"]["state"] == "done"


def test_the_jobs_csv_honours_the_overviews_filters(estate: ReviewEstate, viewer_client: Client) -> None:
    _, rows = _rows(viewer_client, "jobs-csv", {"site": str(estate.shop.esa_id)})
    assert [row["job"] for row in rows] == ["Shop warm-up"]
    _, rows = _rows(viewer_client, "jobs-csv", {"attention": "on"})
    assert {row["job"] for row in rows} == {
        "Broken links",
        "Late starter",
        "Paused",
        "Short window",
        "Shop warm-up",
    }
    response = viewer_client.get(reverse("jobs-csv"), {"site": "nope"})
    assert response.status_code == 400
    assert "“nope” is not a site this dashboard knows." in response.content.decode()


def test_a_name_a_spreadsheet_would_run_is_neutralised(estate: ReviewEstate, viewer_client: Client) -> None:
    JobFactory.create(site=estate.site, name='=HYPERLINK("http://evil.example","x")', url_count=5)
    JobFactory.create(site=estate.site, name="@SUM(A1)", url_count=5)
    _, rows = _rows(viewer_client, "jobs-csv")
    names = {row["job"] for row in rows}
    assert '\'=HYPERLINK("http://evil.example","x")' in names and "'@SUM(A1)" in names
    assert not any(name.startswith(("=", "@")) for name in names)


def test_the_plans_csv_has_the_timelines_plans(estate: ReviewEstate, viewer_client: Client) -> None:
    header, rows = _rows(viewer_client, "plans-csv")
    assert header == list(PLAN_COLUMNS)
    # The default window: 6 h back, 18 h ahead; the plan parked a year ahead is not in it.
    assert {row["plan_id"] for row in rows} == {
        plan.esa_id for key, plan in estate.plans.items() if key != "held-parked"
    }
    running = next(row for row in rows if row["plan_id"] == estate.plans["running"].esa_id)
    assert (
        running["status"],
        running["interval_seconds"],
        running["batch_size"],
        running["urls_per_minute"],
    ) == (
        "running",
        "60",
        "10",
        "10.0",
    )
    assert datetime.fromisoformat(running["start_time"]) == estate.plans["running"].start_time
    assert running["start_time"].endswith("+08:00")

    _, rows = _rows(viewer_client, "plans-csv", {"site": str(estate.shop.esa_id), "span": "week"})
    assert {row["plan_id"] for row in rows} == {estate.plans["held-stopped"].esa_id}
    _, rows = _rows(viewer_client, "plans-csv", {"start": "2020-01-01T00:00", "end": "2020-01-02T00:00"})
    assert rows == []
