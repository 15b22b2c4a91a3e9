"""The limits pages say, in words and figures, what bounds prefetch on a site (docs/limits.md): its
status and pause, its prefetch quota used and left today, the forecast at this schedule, how
complete the count is, what ESA refused to tell; per site, across sites, on the site page and on
the overview, each in the operator's display zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django import Settings

from prefetch_ui.prefetch.models import OperationKind, OperationStatus, Site, SiteLimits
from prefetch_ui.prefetch.selectors.job_cap import JOB_COUNT_FULL, SITE_JOB_COUNT
from prefetch_ui.prefetch.services.changes import site_version_next
from tests.factories import JobFactory, OperationFactory, PlanFactory, SiteFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
# 09:00 in Shanghai, the quota's zone and the display zone: the quota day began at 16:00 UTC before.
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
DAY_START = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = "Asia/Shanghai"
    settings.PREFETCH_DISPLAY_TIME_ZONE = "Asia/Shanghai"
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def _site(
    *,
    quota: int | None = 1_000,
    used: int = 0,
    paused: bool | None = False,
    status: str = "active",
    esa_id: int = 1,
    counted_since: datetime = DAY_START,
    read_error: str = "",
) -> Site:
    site = SiteFactory.create(status=status, esa_id=esa_id, name=f"site{esa_id}.example", jobs_read_at=NOW)
    SiteLimits.objects.create(
        site=site,
        instance_id=f"esa-site-{esa_id}",
        instance_status="online",
        preload_quota=quota,
        purge_quota=10_000,
        purge_used=12,
        purge_quota_30day=0,
        purge_used_30day=0,
        paused=paused,
        read_at=NOW - timedelta(minutes=5),
        read_error=read_error,
        read_error_at=NOW - timedelta(minutes=1) if read_error else None,
        quota_day=date(2026, 12, 7),
        preload_used=used,
        counted_since=counted_since,
    )
    return site


def _plan(site: Site, *, urls: int, start: datetime, slice_len: int = 100) -> None:
    """A job of `urls` URLs, sent `slice_len` a minute from `start`."""
    job = JobFactory.create(site=site, url_count=urls, url_submitted=0)
    PlanFactory.create(
        job=job, start_time=start, end_time=start + timedelta(hours=10), interval=60, slice_len=slice_len
    )


def _text(html: str) -> str:
    """The page's words, as a reader sees them: no tags, one space between words."""
    return re.sub(r" ([;:.,])", r"\1", re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def _page(client: Client, site: Site) -> str:
    response = client.get(reverse("site-limits", args=[site.esa_id]))
    assert response.status_code == 200
    return _text(response.content.decode())


def test_a_schedule_over_the_quota_says_when_it_runs_out_and_what_is_refused(viewer_client: Client) -> None:
    site = _site(quota=1_000, used=400)
    _plan(site, urls=2_000, start=NOW + timedelta(minutes=10))  # 100 a minute from 09:10
    page = _page(viewer_client, site)
    assert "400 of 1,000 URLs used today, 600 left" in page
    # 600 left: the batches of 09:10 to 09:15 pass, the one of 09:16 is the first refused.
    assert (
        "At this schedule, today's quota runs out at 2026-12-07 09:16:00 +08:00; 1,400 URLs will be refused."
        in page
    )
    assert "ESA renews the quota at midnight in Asia/Shanghai: next at 2026-12-08 00:00:00 +08:00." in page
    assert "active: ESA runs plans only on active sites, and this one is." in page
    assert "Not paused." in page
    assert "12 of 10,000 URLs" in page and "no 30-day quota" in page
    assert "1 job" in page and "ESA does not publish the cap" in page
    assert "Read from ESA at 2026-12-07 08:55:00 +08:00." in page

    # In the zone the operator chose, the same moment.
    viewer_client.post(reverse("display-zone"), {"zone": "UTC", "next": "/"})
    assert "runs out at 2026-12-07 01:16:00 +00:00" in _page(viewer_client, site)


def test_a_schedule_within_the_quota_says_what_it_uses(viewer_client: Client) -> None:
    site = _site(quota=10_000, used=3_000)
    _plan(site, urls=3_000, start=NOW + timedelta(minutes=1))
    page = _page(viewer_client, site)
    assert "3,000 of 10,000 URLs used today, 7,000 left" in page
    assert "At this schedule, 3,000 of the 7,000 URLs left today will be used." in page
    assert "runs out" not in page


def test_a_quota_used_up_refuses_from_the_next_batch(viewer_client: Client) -> None:
    site = _site(quota=1_000, used=1_000)
    _plan(site, urls=500, start=NOW + timedelta(minutes=30))
    page = _page(viewer_client, site)
    assert "1,000 of 1,000 URLs used today, 0 left" in page
    assert (
        "Today's quota is used up: at this schedule, 500 URLs will be refused, "
        "from the batch at 2026-12-07 09:30:00 +08:00 until it renews." in page
    )


def test_an_unknown_quota_has_no_forecast(viewer_client: Client) -> None:
    site = _site(quota=None)
    _plan(site, urls=2_000, start=NOW)
    page = _page(viewer_client, site)
    assert "Not known: ESA did not answer a prefetch quota for this site." in page
    assert "No forecast without the quota." in page
    assert "ESA renews the quota at midnight in Asia/Shanghai." in page

    never_read = SiteFactory.create(esa_id=2, name="new.example", status="active")
    page = _page(viewer_client, never_read)
    assert "Not known: not read from ESA yet." in page
    assert "Not read from ESA yet." in page  # the pause
    assert "Not read from ESA yet: the sync reads them every 10 minutes." in page


def test_a_paused_site_says_its_plans_wait_and_nothing_is_charged(viewer_client: Client) -> None:
    site = _site(quota=1_000, used=100, paused=True)
    _plan(site, urls=5_000, start=NOW)
    page = _page(viewer_client, site)
    assert "Paused in ESA: ESA runs none of its plans until it is resumed" in page
    assert "ESA runs none of this site's plans now: they wait, and nothing is charged to its quota." in page
    assert (
        "ESA runs none of this site's plans while it is paused: "
        "nothing more is charged today at this schedule." in page
    )
    assert "runs out" not in page


def test_an_inactive_site_says_esa_runs_plans_only_on_active_sites(viewer_client: Client) -> None:
    site = _site(quota=1_000, status="offline")
    _plan(site, urls=5_000, start=NOW)
    page = _page(viewer_client, site)
    assert (
        "offline: ESA runs plans only on active sites; its waiting plans will not start until it is active."
        in page
    )
    assert "ESA runs none of this site's plans while it is offline" in page


def test_a_count_begun_during_the_day_is_a_lower_bound(viewer_client: Client) -> None:
    site = _site(quota=1_000, used=400, counted_since=NOW - timedelta(minutes=30))
    page = _page(viewer_client, site)
    assert "at least 400 of 1,000 URLs used today" in page
    assert "At least 400 used: counting began at 2026-12-07 08:30:00 +08:00." in page


def test_a_refused_read_says_what_esa_answered_and_no_secret(
    viewer_client: Client, settings: Settings
) -> None:
    settings.ESA_ACCESS_KEY_SECRET = "secret-never-shown-42"
    refusal = "InvalidUid.PermissionDenied: You are not authorized to do this action. (RequestId REQ-7)"
    site = _site(quota=1_000, used=10, read_error=refusal)
    response = viewer_client.get(reverse("site-limits", args=[site.esa_id]))
    page = _text(response.content.decode())
    assert f"ESA refused the last read of these limits at 2026-12-07 08:59:00 +08:00: {refusal}" in page
    assert "What follows is what it said at 2026-12-07 08:55:00 +08:00." in page
    assert "secret-never-shown-42" not in response.content.decode()
    listing = _text(viewer_client.get(reverse("limits")).content.decode())
    assert "limits: ESA refused the read" in listing and "refused at 2026-12-07 08:59:00 +08:00" in listing


def test_every_sites_limits_those_that_stop_prefetch_first(viewer_client: Client) -> None:
    calm = _site(quota=10_000, used=10, esa_id=1)  # site1: first by name
    _plan(calm, urls=100, start=NOW)
    over = _site(quota=1_000, used=400, esa_id=2)
    _plan(over, urls=2_000, start=NOW + timedelta(minutes=10))
    paused = _site(quota=1_000, paused=True, esa_id=3)
    response = viewer_client.get(reverse("limits"))
    html = response.content.decode()
    order = re.findall(r'<tr data-site="(\d+)"', html)
    assert order == [str(over.esa_id), str(paused.esa_id), str(calm.esa_id)]
    page = _text(html)
    assert "prefetch quota runs out today" in page and "paused in ESA" in page
    assert "runs out at 2026-12-07 09:16:00 +08:00; 1,400 URLs will be refused." in page
    assert "At this schedule, 100 of the 9,990 URLs left today will be used." in page
    assert reverse("site-limits", args=[over.esa_id]) in html


def test_the_job_cap_learned_from_esas_refusal_is_said(viewer_client: Client) -> None:
    site = _site()
    for _ in range(2):
        JobFactory.create(site=site)
    OperationFactory.create(
        kind=OperationKind.JOB_CREATE,
        status=OperationStatus.FAILED,
        plan=None,
        site=site,
        target_esa_id="d" * 24,
        target_label="Spring sale",
        error_code=JOB_COUNT_FULL,
        result={SITE_JOB_COUNT: 3},
        finished_at=NOW - timedelta(hours=1),
    )
    page = _page(viewer_client, site)
    assert "2 jobs" in page
    assert (
        "ESA holds at most 3 jobs on this site (learned when it refused one at 3 jobs, "
        "2026-12-07 08:00:00 +08:00); delete finished jobs to make room. It has 2 now: room for 1 more."
        in page
    )
    assert "does not publish the cap" not in page


def _list_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("limits")).status_code == 200
    return len(captured)


def test_the_query_count_of_every_sites_limits_does_not_grow_with_sites(viewer_client: Client) -> None:
    site = _site(quota=1_000, esa_id=1)
    _plan(site, urls=2_000, start=NOW)
    before = _list_queries(viewer_client)
    for number in range(2, 8):
        other = _site(quota=500 * number, esa_id=number, paused=number % 2 == 0)
        for _ in range(3):
            _plan(other, urls=1_000, start=NOW + timedelta(minutes=number))
    assert _list_queries(viewer_client) == before


def test_the_site_page_says_its_limits_in_a_line_and_links_them(viewer_client: Client) -> None:
    site = _site(quota=1_000, used=400)
    _plan(site, urls=2_000, start=NOW + timedelta(minutes=10))
    html = viewer_client.get(reverse("site-detail", args=[site.esa_id])).content.decode()
    assert (
        "Prefetch quota today: 400 of 1,000 used · runs out at 2026-12-07 09:16:00 +08:00; "
        "1,400 URLs will be refused" in _text(html)
    )
    assert f'href="{reverse("site-limits", args=[site.esa_id])}"' in html


def test_the_overview_shows_each_sites_limits(viewer_client: Client) -> None:
    over = _site(quota=1_000, used=400, esa_id=1)
    _plan(over, urls=2_000, start=NOW + timedelta(minutes=10))
    _site(quota=None, paused=True, esa_id=2)
    html = viewer_client.get(reverse("overview")).content.decode()
    page = _text(html)
    assert "Prefetch quota today: 400 of 1,000 used · runs out at 2026-12-07 09:16:00 +08:00" in page
    assert "Prefetch quota today: not known · site paused in ESA" in page
    assert "prefetch quota runs out today" in page and "paused in ESA" in page
    assert f'href="{reverse("limits")}"' in html


def _poll_url(html: str, element: str) -> str:
    match = re.search(rf'{element}[^>]*hx-get="([^"]+)"', html)
    assert match is not None, html
    return match.group(1).replace("&amp;", "&")


def _site_moves(site: Site) -> None:
    """A write that shows on the site's pages (the sync read its pause, say): its version moves on."""
    Site.objects.filter(pk=site.pk).update(version=site_version_next(site_id=site.pk))


@pytest.mark.parametrize("route", ["site-limits", "site-limits-summary"])
def test_a_poll_answers_nothing_changed_until_the_site_or_the_minute_moves(
    viewer_client: Client, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    site = _site(quota=1_000, used=400)
    _plan(site, urls=2_000, start=NOW + timedelta(minutes=10))
    # The limits page polls itself; the site page polls its line of limits from the summary's route.
    page = reverse("site-limits" if route == "site-limits" else "site-detail", args=[site.esa_id])
    element = 'id="limits-live"' if route == "site-limits" else 'data-testid="limits-summary"'
    url = _poll_url(viewer_client.get(page).content.decode(), element)
    assert url.startswith(reverse(route, args=[site.esa_id]))
    assert viewer_client.get(url, headers=HTMX).status_code == 204

    SiteLimits.objects.filter(site=site).update(paused=True)
    _site_moves(site)
    answer = viewer_client.get(url, headers=HTMX)
    assert answer.status_code == 200
    assert "paused" in _text(answer.content.decode())
    url = _poll_url(answer.content.decode(), element)
    assert viewer_client.get(url, headers=HTMX).status_code == 204

    # The forecast counts from now: a minute later is a change, though nothing was written.
    monkeypatch.setattr(timezone, "now", lambda: NOW + timedelta(minutes=1))
    assert viewer_client.get(url, headers=HTMX).status_code == 200


def test_a_missing_site_has_no_limits_page(viewer_client: Client) -> None:
    assert viewer_client.get(reverse("site-limits", args=[424242])).status_code == 404
    assert viewer_client.get(reverse("site-limits-summary", args=[424242])).status_code == 404


def test_the_limits_pages_are_for_people_logged_in() -> None:
    site = _site()
    for url in (
        reverse("limits"),
        reverse("site-limits", args=[site.esa_id]),
        reverse("site-limits-summary", args=[site.esa_id]),
    ):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
