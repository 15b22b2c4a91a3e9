"""The team lead's live pages poll only while something on them can change: with everything
settled, a poll answers 286 and htmx stops asking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.prefetch.models import Site
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
