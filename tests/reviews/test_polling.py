"""The team lead's live pages poll only while something on them can change: with everything
settled, a poll answers 286 and htmx stops asking."""

from __future__ import annotations

import gzip
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.prefetch.models import Plan, Site
from prefetch_ui.reviews.selectors.overview import site_reviews
from prefetch_ui.reviews.views import overview as overview_views
from prefetch_ui.web import htmx
from prefetch_ui.web.htmx import POLL_ANSWERS_CACHE
from tests.esa_changes import esa_says
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


@pytest.fixture(autouse=True)
def _clock_stands_still(monkeypatch: pytest.MonkeyPatch) -> None:
    """The overview's and the timeline's tokens change each minute (their relative times move): a test
    that crossed a minute between two polls would see a change nobody made. The clock stands still
    unless a test moves it."""
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)


@pytest.mark.parametrize(
    ("page", "region"),
    [("overview", "overview-live"), ("timeline", "timeline-live"), ("home", "sites-table")],
)
def test_a_poll_that_finds_no_site_changed_gets_204_and_a_change_the_region(
    site: Site, viewer_client: Client, page: str, region: str
) -> None:
    plan = _running_plan(site)
    url = _poll_url(viewer_client.get(reverse(page)).content.decode(), region)
    response = viewer_client.get(url, headers=HTMX)
    assert (response.status_code, response.content) == (204, b"")

    _plan_changes(plan)
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


def _running_plan(site: Site) -> Plan:
    now = timezone.now()
    return PlanFactory.create(
        job=JobFactory.create(site=site, url_count=10, url_submitted=5),
        status="running",
        start_time=now - timedelta(hours=2),
        end_time=now + timedelta(hours=1),
    )


def _plan_changes(plan: Plan) -> None:
    """ESA changed the plan's batch size, as the sync writes it: its site's version moves on."""
    esa_says(plan, slice_len=plan.slice_len + 1)


@pytest.mark.parametrize(("page", "region"), [("overview", "overview-live"), ("timeline", "timeline-live")])
def test_a_change_is_drawn_once_and_every_other_tab_gets_the_same_answer_from_redis(
    site: Site, viewer_client: Client, operator_client: Client, page: str, region: str
) -> None:
    plan = _running_plan(site)
    url = _poll_url(viewer_client.get(reverse(page)).content.decode(), region)
    _plan_changes(plan)

    with CaptureQueriesContext(connection) as drawn:
        first = viewer_client.get(url, headers=HTMX)
    with CaptureQueriesContext(connection) as kept:
        second = operator_client.get(url, headers=HTMX)  # another tab, another user, the same page
    assert first.status_code == second.status_code == 200
    assert second.content == first.content and f'id="{region}"' in second.content.decode()
    # The second read only the token (and its session): none of the plans, jobs or sites drawn.
    assert len(kept) < len(drawn)
    assert not any('"prefetch_plan"' in query["sql"] for query in kept.captured_queries)


def test_a_tab_polling_while_another_process_draws_the_change_keeps_what_it_shows(
    site: Site, viewer_client: Client, operator_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _running_plan(site)
    url = _poll_url(viewer_client.get(reverse("overview")).content.decode(), "overview-live")
    _plan_changes(plan)
    asked_meanwhile: list[tuple[int, bytes]] = []
    drawing = site_reviews

    def slow_drawing(**kwargs: Any) -> Any:
        answer = operator_client.get(url, headers=HTMX)  # as if from another process
        asked_meanwhile.append((answer.status_code, answer.content))
        return drawing(**kwargs)

    monkeypatch.setattr(overview_views, "site_reviews", slow_drawing)
    assert viewer_client.get(url, headers=HTMX).status_code == 200
    # Nothing new to swap yet (204, not a second drawing, not a wait); the next poll has it.
    assert asked_meanwhile == [(204, b"")]
    again = operator_client.get(url, headers=HTMX)
    assert again.status_code == 200 and 'id="overview-live"' in again.content.decode()
    assert len(asked_meanwhile) == 1  # served from Redis: nothing drawn the second time


def test_tabs_showing_other_time_zones_get_answers_of_their_own(
    site: Site, viewer_client: Client, operator_client: Client
) -> None:
    plan = _running_plan(site)
    url = _poll_url(viewer_client.get(reverse("overview")).content.decode(), "overview-live")
    operator_client.post(reverse("display-zone"), {"zone": "Europe/Berlin", "next": "/"})
    _plan_changes(plan)
    default = viewer_client.get(url, headers=HTMX).content.decode()
    berlin = operator_client.get(url, headers=HTMX).content.decode()
    assert "(Europe/Berlin)" in berlin and "(Europe/Berlin)" not in default


def test_without_redis_a_poll_draws_its_own_answer_and_the_log_says_so_once(
    site: Site,
    viewer_client: Client,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
) -> None:
    plan = _running_plan(site)
    url = _poll_url(viewer_client.get(reverse("overview")).content.decode(), "overview-live")
    settings.CACHES = {
        **settings.CACHES,
        POLL_ANSWERS_CACHE: {
            **settings.CACHES[POLL_ANSWERS_CACHE],
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
        },
    }
    monkeypatch.setattr(htmx, "_cache_unreachable_said", 0.0)
    _plan_changes(plan)
    with caplog.at_level(logging.WARNING, logger=htmx.__name__):
        for _ in range(3):
            answer = viewer_client.get(url, headers=HTMX)
            assert answer.status_code == 200 and 'id="overview-live"' in answer.content.decode()
    said = [record for record in caplog.records if "cache is unreachable" in record.getMessage()]
    assert len(said) == 1 and said[0].exc_info is None


def _poll_url(page: str, region: str) -> str:
    match = re.search(rf'id="{region}"[^>]*hx-get="([^"]+)"', page)
    assert match is not None, f"#{region} does not poll"
    return match.group(1).replace("&amp;", "&")


def test_a_redrawn_region_goes_compressed_to_a_browser_that_asks(site: Site, viewer_client: Client) -> None:
    for _ in range(20):
        _running_plan(site)
    response = viewer_client.get(
        reverse("overview"), {"poll": "1"}, headers={**HTMX, "Accept-Encoding": "gzip"}
    )
    body = gzip.decompress(response.content).decode()
    assert response["Content-Encoding"] == "gzip" and 'id="overview-live"' in body
    assert len(response.content) < len(body) / 4
