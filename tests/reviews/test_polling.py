"""The team lead's live pages poll only while something on them can change: with everything
settled, a poll answers 286 and htmx stops asking."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.services.sync import plan_update
from tests.factories import JobFactory, PlanFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.mark.parametrize(("page", "region"), [("overview", "overview-live"), ("timeline", "timeline-live")])
@pytest.mark.parametrize("status", ["finished", "running"])
def test_a_poll_goes_on_while_a_plan_runs_and_stops_once_all_settled(
    site: Site, viewer_client: Client, page: str, region: str, status: str
) -> None:
    now = timezone.now()
    PlanFactory.create(
        job=JobFactory.create(site=site, url_count=10, url_submitted=10 if status == "finished" else 5),
        status=status,
        start_time=now - timedelta(hours=2),
        end_time=now + timedelta(hours=1 if status == "running" else -1),
    )
    response = viewer_client.get(reverse(page), {"poll": "1"}, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == (200 if status == "running" else 286)
    assert f'id="{region}"' in body and "<html" not in body  # the fragment alone


@pytest.mark.parametrize(
    ("page", "region"),
    [("overview", "overview-live"), ("timeline", "timeline-live"), ("home", "sites-table")],
)
def test_a_poll_that_finds_no_site_changed_gets_204_and_a_change_the_region(
    site: Site, viewer_client: Client, page: str, region: str
) -> None:
    now = timezone.now()
    plan = PlanFactory.create(
        job=JobFactory.create(site=site, url_count=10, url_submitted=5),
        status="running",
        start_time=now - timedelta(hours=2),
        end_time=now + timedelta(hours=1),
    )
    url = _poll_url(viewer_client.get(reverse(page)).content.decode(), region)
    response = viewer_client.get(url, headers=HTMX)
    assert (response.status_code, response.content) == (204, b"")

    plan_update(
        plan=EsaPlan(
            id=plan.esa_id,
            job_id=plan.job.esa_id,
            start_time=plan.start_time,
            end_time=plan.end_time,
            interval=plan.interval,
            slice_len=plan.slice_len + 1,
            status="running",
        ),
        now=now,
    )
    response = viewer_client.get(url, headers=HTMX)
    assert response.status_code == 200 and f'id="{region}"' in response.content.decode()
    assert viewer_client.get(_poll_url(response.content.decode(), region), headers=HTMX).status_code == 204


def test_the_overview_is_drawn_again_each_minute_for_its_relative_times(
    site: Site, viewer_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    PlanFactory.create(job=JobFactory.create(site=site, url_count=10), status="running", start_time=now)
    url = _poll_url(viewer_client.get(reverse("overview")).content.decode(), "overview-live")
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(minutes=1))
    assert viewer_client.get(url, headers=HTMX).status_code == 200


def _poll_url(page: str, region: str) -> str:
    match = re.search(rf'id="{region}"[^>]*hx-get="([^"]+)"', page)
    assert match is not None, f"#{region} does not poll"
    return match.group(1).replace("&amp;", "&")
