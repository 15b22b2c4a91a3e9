"""A site paused in ESA (or not active) says so where its plans are: the site and job pages warn,
and the overview's estimate says nothing is sent, not when the URLs would all be sent."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.prefetch.models import Site, SiteLimits
from tests.factories import JobFactory, PlanFactory, SiteFactory

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
