"""What the pages say about where things stand: unsent URLs, failures, sync errors, and polls
that ask for the same URL every time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.prefetch.models import Job, Plan, Site
from tests.factories import JobFactory, OperationFactory, PlanFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
JOB_ID = "6650aaaaaaaaaaaaaaaaaaaa"


def _job(site: Site, *, submitted: int, statuses: list[str], error_info: str = "") -> Job:
    now = timezone.now()
    job = JobFactory.create(
        esa_id=JOB_ID,
        site=site,
        name="Autumn catalogue",
        url_count=300,
        url_submitted=submitted,
        error_info=error_info,
    )
    for index, status in enumerate(statuses):
        PlanFactory.create(
            esa_id=f"6650bbbbbbbbbbbbbbbbbb{index:02d}",
            job=job,
            start_time=now - timedelta(hours=2),
            end_time=now - timedelta(hours=1),
            interval=60,
            slice_len=5,
            status=status,
        )
    return job


def _hx_get(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*hx-get="([^"]+)"', page)
    assert match is not None, f"#{element_id} does not poll"
    return match.group(1).replace("&amp;", "&")


def test_a_job_finished_with_urls_never_sent_says_so_and_offers_to_schedule_them(
    site: Site, operator_client: Client
) -> None:
    _job(site, submitted=270, statuses=["finished", "finished"])
    page = operator_client.get(reverse("job-detail", args=[JOB_ID])).content.decode()
    assert "30 URLs never sent: no plan of this job will submit them." in page
    assert f'href="{reverse("plan-builder", args=[JOB_ID])}" data-testid="schedule-rest"' in page
    assert 'data-state="unsent"' in page  # the bar is not drawn as a success
    site_page = operator_client.get(reverse("site-detail", args=[site.esa_id])).content.decode()
    assert "30 unsent" in site_page


def test_a_failed_plan_shows_why_and_its_job_does_not_look_done(site: Site, operator_client: Client) -> None:
    _job(site, submitted=120, statuses=["failed"], error_info="QuotaExcess")
    page = operator_client.get(reverse("job-detail", args=[JOB_ID])).content.decode()
    assert re.search(r'data-testid="plan-failure">\s*QuotaExcess', page)
    assert 'data-state="failed"' in page


def test_a_job_with_every_url_sent_is_done(site: Site, operator_client: Client) -> None:
    _job(site, submitted=300, statuses=["finished"])
    page = operator_client.get(reverse("job-detail", args=[JOB_ID])).content.decode()
    assert 'data-state="done"' in page and "never sent" not in page


def test_plans_are_told_apart_and_operations_named_by_what_they_touch(
    site: Site, operator_client: Client
) -> None:
    job = _job(site, submitted=0, statuses=["waiting"])
    OperationFactory.create(
        kind="job_create",
        status="succeeded",
        target_esa_id="f2d144a8" * 3,
        target_label=job.name,
        plan=None,
        job=job,
        site=site,
    )
    page = operator_client.get(reverse("job-detail", args=[JOB_ID])).content.decode()
    assert 'title="6650bbbbbbbbbbbbbbbbbb00" data-testid="plan-id">…bbbbbb00</code>' in page
    assert 'Create job <span class="muted">Autumn catalogue</span>' in page
    assert "f2d144a8" not in page


def test_a_site_whose_sync_failed_shows_the_error_on_the_sites_page(
    site: Site, operator_client: Client
) -> None:
    Site.objects.filter(pk=site.pk).update(
        sync_error="InvalidUid.PermissionDenied: You are not authorized (RequestId 1-2-3)",
        sync_error_at=timezone.now(),
    )
    page = operator_client.get(reverse("home")).content.decode()
    assert "The last sync could not read this site" in page
    assert "InvalidUid.PermissionDenied: You are not authorized (RequestId 1-2-3)" in page


@pytest.mark.parametrize(
    ("url_name", "args", "element_id", "query"),
    [
        ("site-detail", [DEMO_SITE_ID], "jobs-poll", "?name=Autumn&page=1"),
        ("job-detail", [JOB_ID], "job-poll", ""),
        ("home", [], "sites-table", ""),
    ],
)
def test_a_poll_asks_for_the_same_url_every_time(
    site: Site, operator_client: Client, url_name: str, args: list[object], element_id: str, query: str
) -> None:
    _job(site, submitted=0, statuses=["running"])
    first = _hx_get(operator_client.get(reverse(url_name, args=args) + query).content.decode(), element_id)
    url = first
    for _ in range(3):
        # A new version each time (a poll that finds nothing changed gets no answer to read).
        Job.objects.update(version=F("version") + 1)
        Site.objects.update(version=F("version") + 1)
        url = _hx_get(operator_client.get(url, headers=HTMX).content.decode(), element_id)
    assert re.sub(r"v=\w+", "", url) == re.sub(r"v=\w+", "", first)  # the same but for the version
    assert url.count("poll=1") == 1


def test_a_job_esa_took_no_url_of_is_failed_not_done(site: Site, operator_client: Client) -> None:
    job = _job(site, submitted=0, statuses=[], error_info="OtherErrors:oss object not readable")
    Job.objects.filter(pk=job.pk).update(url_count=0)
    page = operator_client.get(reverse("job-detail", args=[JOB_ID])).content.decode()
    assert 'data-state="failed"' in page


def test_a_long_site_page_is_paginated_keeping_its_filter(site: Site, viewer_client: Client) -> None:
    JobFactory.create_batch(51, site=site, name="Nightly warm-up")
    first = viewer_client.get(reverse("site-detail", args=[site.esa_id]) + "?name=Nightly").content.decode()
    assert "Page 1 of 2 (51 jobs)" in first
    assert 'href="?name=Nightly&page=2">Older' in first
    second = viewer_client.get(
        reverse("site-detail", args=[site.esa_id]) + "?name=Nightly&page=2"
    ).content.decode()
    assert "Page 2 of 2 (51 jobs)" in second and 'href="?name=Nightly&page=1">' in second


def test_the_site_page_filters_read_days_in_the_operator_s_zone_and_names_in_any_case(
    site: Site, viewer_client: Client
) -> None:
    """The same on SQLite and PostgreSQL (whose server runs in a zone of its own in the tests)."""
    march_1 = datetime(2026, 3, 1, tzinfo=UTC)
    JobFactory.create(site=site, name="Late EVENING warm-up", esa_created_at=march_1 + timedelta(hours=15))
    JobFactory.create(site=site, name="After midnight", esa_created_at=march_1 + timedelta(hours=17.5))
    url = reverse("site-detail", args=[site.esa_id])

    def names(query: dict[str, str]) -> set[str]:
        page = viewer_client.get(url, query).content.decode()
        return {name for name in ("Late EVENING warm-up", "After midnight") if name in page}

    # Asia/Shanghai by default: 15:00 UTC is 23:00 on 1 March there, 17:30 UTC is 01:30 on the 2nd.
    assert names({"created_from": "2026-03-02"}) == {"After midnight"}
    assert names({"created_to": "2026-03-01"}) == {"Late EVENING warm-up"}
    assert names({"name": "evening"}) == {"Late EVENING warm-up"}
    viewer_client.post(reverse("display-zone"), {"zone": "UTC"})
    assert names({"created_from": "2026-03-02"}) == set()
    assert names({"created_to": "2026-03-01"}) == {"Late EVENING warm-up", "After midnight"}


def test_a_long_job_shows_its_plans_a_page_at_a_time_and_by_status(site: Site, viewer_client: Client) -> None:
    job = JobFactory.create(esa_id=JOB_ID, site=site, url_count=1000)
    start = timezone.now()
    Plan.objects.bulk_create(
        PlanFactory.build(
            job=job,
            esa_id=f"6650cccccccccccccccc{index:04d}",
            start_time=start + timedelta(hours=index),
            end_time=start + timedelta(hours=index + 1),
            status="running" if index % 10 == 0 else "waiting",
        )
        for index in range(250)
    )
    url = reverse("job-detail", args=[JOB_ID])
    first = viewer_client.get(url).content.decode()
    assert first.count("data-plan=") == 100  # never the whole list
    assert "Page 1 of 3 (250 plans)" in first
    assert 'data-plan="6650cccccccccccccccc0000"' in first  # in start order
    assert ">25 running</a>" in first and ">225 waiting</a>" in first
    last = viewer_client.get(url, {"page": 3}).content.decode()
    assert last.count("data-plan=") == 50 and 'data-plan="6650cccccccccccccccc0249"' in last

    running = viewer_client.get(url, {"status": "running"}).content.decode()
    assert running.count("data-plan=") == 25 and "Page 1 of" not in running  # one page: no pager
    assert 'data-plan="6650cccccccccccccccc0001"' not in running
    # The poll asks for the same page of the same list.
    assert "status=running&amp;page=1&amp;poll=1" in running
    assert viewer_client.get(url, {"status": "gone"}).content.decode().count("data-plan=") == 100
