"""A site paused in ESA (or not active) says so where its plans are: the site and job pages warn,
and every estimate (the site's and each job's, on the pages, the timeline and the API) says
nothing is sent, not when the URLs would all be sent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.api.services import token_create
from prefetch_ui.prefetch.models import Job, Site, SiteLimits
from tests.api.conftest import bearer
from tests.csv_download import csv_rows
from tests.factories import JobFactory, PlanFactory, SiteFactory
from tests.holds import hold_done

pytestmark = pytest.mark.django_db


def _site_with_a_plan(*, paused: bool, status: str = "active", esa_id: int = 1) -> Site:
    site = SiteFactory.create(status=status, esa_id=esa_id, name=f"site{esa_id}.example")
    SiteLimits.objects.create(site=site, paused=paused)
    job = JobFactory.create(site=site, url_count=100, url_submitted=0)
    start = timezone.now() + timedelta(minutes=5)
    PlanFactory.create(job=job, start_time=start, end_time=start + timedelta(hours=1))
    return site


def test_a_paused_site_is_said_on_its_pages(viewer_client: Client) -> None:
    site = _site_with_a_plan(paused=True)
    job = site.jobs.get()
    for url in (reverse("site-detail", args=[site.esa_id]), reverse("job-detail", args=[job.esa_id])):
        page = viewer_client.get(url).content.decode()
        assert "site1.example is paused in ESA: ESA runs none of its plans until it is resumed" in page
    estimate = _site_estimate(viewer_client)
    assert estimate == "Paused in ESA: nothing is sent until it is resumed there"


def test_a_site_not_paused_says_nothing_of_it(viewer_client: Client) -> None:
    site = _site_with_a_plan(paused=False)
    page = viewer_client.get(reverse("site-detail", args=[site.esa_id])).content.decode()
    assert "paused in ESA" not in page
    assert _site_estimate(viewer_client).startswith("All URLs sent by")


def test_an_inactive_site_s_estimate_says_nothing_is_sent(viewer_client: Client) -> None:
    _site_with_a_plan(paused=False, status="pending")
    assert _site_estimate(viewer_client) == "Pending in ESA: nothing is sent until the site is active"


def _site_estimate(client: Client) -> str:
    """The overview card's one-line estimate of the site (its jobs' own, inside the card, are the
    job page's words)."""
    page = client.get(reverse("overview")).content.decode()
    (found,) = re.findall(r'data-testid="site-estimate">(.*?)</span>\n', page, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", found).split())


def _job_eta(client: Client, job: Job) -> str:
    page = client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    (found,) = re.findall(r'data-testid="job-eta">(.*?)</dd>', page, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", found).split())


def _overview_job_estimates(client: Client) -> list[str]:
    page = client.get(reverse("overview")).content.decode()
    return [
        " ".join(re.sub(r"<[^>]+>", "", found).split())
        for found in re.findall(r'data-label="Finish">(.*?)</td>', page, re.S)
    ]


def test_a_paused_site_s_jobs_say_their_urls_wait_for_the_resume(viewer_client: Client) -> None:
    job = _site_with_a_plan(paused=True).jobs.get()
    said = "Not sending: site1.example is paused in ESA, so 100 URLs wait until it is resumed there"
    assert _job_eta(viewer_client, job) == said
    assert _overview_job_estimates(viewer_client) == [said]
    page = viewer_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    assert "All URLs sent by" not in page
    assert 'data-testid="plan-share"' not in page  # no plan's "last batch at", which ESA will not keep


def test_an_inactive_site_s_jobs_say_their_urls_wait_until_it_is_active(viewer_client: Client) -> None:
    job = _site_with_a_plan(paused=False, status="pending").jobs.get()
    said = "Not sending: site1.example is pending in ESA, so 100 URLs wait until it is active"
    assert _job_eta(viewer_client, job) == said
    assert _overview_job_estimates(viewer_client) == [said]


def test_a_running_site_s_job_still_says_when_it_finishes(viewer_client: Client) -> None:
    job = _site_with_a_plan(paused=False).jobs.get()
    assert _job_eta(viewer_client, job).startswith("All URLs sent by")
    (overview,) = _overview_job_estimates(viewer_client)
    assert overview.startswith("All URLs sent by")


def test_a_hold_is_said_before_the_pause(viewer_client: Client, operator: User) -> None:
    """Our own hold is what the operator resumes first: its words win over ESA's pause."""
    site = _site_with_a_plan(paused=True)
    incident = hold_done(user=operator, site=site)
    assert _job_eta(viewer_client, site.jobs.get()).startswith(
        f"Held by incident #{incident.pk}: 100 URLs wait for the resume"
    )


def test_the_api_says_a_paused_site_s_estimates_are_idle(viewer: User) -> None:
    read_token = token_create(user=viewer, name="test", scopes=["read"], expires_in_days=1).secret
    job = _site_with_a_plan(paused=True).jobs.get()
    _site_with_a_plan(paused=False, status="offline", esa_id=2)
    client = Client()
    estimate = client.get(f"/api/v1/jobs/{job.esa_id}", headers=bearer(read_token)).json()["estimate"]
    assert (estimate["estimate"], estimate["site_idle"], estimate["remaining"]) == ("idle", "paused", 100)
    overview = client.get("/api/v1/overview", headers=bearer(read_token)).json()
    said = {
        site["name"]: (site["estimate"], [job["estimate"]["site_idle"] for job in site["jobs"]])
        for site in overview
    }
    assert said == {"site1.example": ("idle", ["paused"]), "site2.example": ("idle", ["offline"])}


def test_the_timeline_lane_says_the_job_waits(viewer_client: Client) -> None:
    _site_with_a_plan(paused=True)
    page = viewer_client.get(reverse("timeline")).content.decode()
    (title,) = re.findall(r'data-testid="lane-estimate">(.*?)</title>', page, re.S)
    assert " ".join(title.split()).startswith("Not sending: site1.example is paused in ESA")


def test_the_jobs_csv_gives_no_finish_for_a_paused_site_s_job(viewer_client: Client) -> None:
    _site_with_a_plan(paused=True)
    _site_with_a_plan(paused=False, esa_id=2)
    rows = csv_rows(viewer_client.get(reverse("jobs-csv")))
    finishes = {row["site"]: row["estimated_finish"] for row in rows}
    assert finishes["site1.example"] == "" and finishes["site2.example"] != ""
