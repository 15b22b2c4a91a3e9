"""A site page's poll says which version it shows: nothing changed costs one query and gets 204;
jobs that changed get their rows alone, swapped out of band; a list that changed shape (a job
added or deleted, a creation) gets the whole table; and nothing unfinished on the page, no poll."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.prefetch.models import Job, Plan, PlanStatus, Site
from prefetch_ui.prefetch.services.mirror_writes import job_forget, jobs_upsert
from prefetch_ui.prefetch.views.sites import JOBS_PER_PAGE
from tests.factories import JobFactory, PlanFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def jobs(site: Site) -> list[Job]:
    """60 jobs, newest first (two pages), each with a running plan."""
    now = timezone.now()
    jobs = [
        JobFactory.create(
            site=site, url_count=100, url_submitted=10, esa_created_at=now - timedelta(minutes=index)
        )
        for index in range(60)
    ]
    Plan.objects.bulk_create(PlanFactory.build(job=job, status=PlanStatus.RUNNING) for job in jobs)
    return jobs


def _poll_url(table: str) -> str:
    match = re.search(r'id="jobs-poll"[^>]*hx-get="([^"]+)"', table)
    assert match is not None, "the page does not poll"
    return match.group(1).replace("&amp;", "&")


def _progress(site: Site, job: Job, submitted: int) -> None:
    """The sync reads a job whose progress moved."""
    esa_job = EsaJob(
        id=job.esa_id,
        site_id=site.esa_id,
        name=job.name,
        url_count=100,
        url_submitted=submitted,
        created_at=job.esa_created_at,
    )
    jobs_upsert(site=site, jobs=[esa_job], now=timezone.now())


def test_a_poll_that_finds_nothing_changed_gets_204_for_one_query(
    site: Site, jobs: list[Job], viewer_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    url = _poll_url(viewer_client.get(reverse("site-detail", args=[site.esa_id])).content.decode())
    with django_assert_num_queries(3):  # the session, the user, the site
        response = viewer_client.get(url, headers=HTMX)
    assert (response.status_code, response.content) == (204, b"")


def test_a_poll_gets_the_changed_rows_of_its_page_alone(
    site: Site, jobs: list[Job], viewer_client: Client
) -> None:
    url = _poll_url(viewer_client.get(reverse("site-detail", args=[site.esa_id])).content.decode())
    _progress(site, jobs[2], 50)
    _progress(site, jobs[55], 50)  # on page 2
    response = viewer_client.get(url, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "HX-Retarget" not in response.headers
    assert re.findall(r'<tr id="job-(\w+)"[^>]*hx-swap-oob="true"', body) == [jobs[2].esa_id]
    assert "50 / 100" in body and 'id="jobs-table"' not in body
    assert viewer_client.get(_poll_url(body), headers=HTMX).status_code == 204


def test_a_list_that_changed_shape_is_sent_whole(site: Site, jobs: list[Job], viewer_client: Client) -> None:
    url = _poll_url(viewer_client.get(reverse("site-detail", args=[site.esa_id])).content.decode())
    job_forget(esa_id=jobs[0].esa_id)
    response = viewer_client.get(url, headers=HTMX)
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#jobs-table", "outerHTML")
    assert response.content.decode().count("data-job=") == JOBS_PER_PAGE


def test_a_page_whose_last_plan_settled_stops_polling(
    site: Site, jobs: list[Job], viewer_client: Client
) -> None:
    page = viewer_client.get(reverse("site-detail", args=[site.esa_id]), {"page": 2}).content.decode()
    url = _poll_url(page)
    Plan.objects.update(status=PlanStatus.FINISHED)
    _progress(site, jobs[59], 100)  # the only change a poll of page 2 sees
    response = viewer_client.get(url, headers=HTMX)
    assert response.status_code == 286
    assert "hx-get" not in response.content.decode()  # the new poll element polls no more
