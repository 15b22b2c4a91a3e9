"""The mirror's freshness is visible: pages of mirrored data say how old it is once the sync is
behind (and a polling page learns it at its next poll), `/metrics` has each site's mirror age, and
the sync's record of its reads wakes no poll."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from pytest_django import DjangoAssertNumQueries, Settings

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.prefetch.models import Job, Site
from prefetch_ui.prefetch.selectors.mirror_age import mirror_stale_after
from prefetch_ui.prefetch.services.freshness import site_jobs_read
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.esa_changes import job_of_plans
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
# Behind by ten and a half minutes: the note says "10 min" for the next thirty seconds.
BEHIND = timedelta(minutes=10, seconds=30)
NOTE = "ESA last read 10 min ago"


def _read(site: Site, *, ago: timedelta) -> None:
    site_jobs_read(site_ids=[site.pk], at=timezone.now() - ago)


def _note(body: str) -> str:
    """What the page's note of the mirror's age says ("" when hidden or absent)."""
    match = re.search(r'<p id="mirror-age"([^>]*)>(.*?)</p>', body, flags=re.DOTALL)
    if match is None or " hidden" in match.group(1):
        return ""
    return match.group(2).strip()


def _poll_url(body: str, poll_id: str) -> str:
    match = re.search(rf'id="{poll_id}"[^>]*hx-get="([^"]+)"', body)
    assert match is not None, "the page does not poll"
    return match.group(1).replace("&amp;", "&")


@pytest.fixture
def job(site: Site) -> Job:
    """A running job: its page and its site's page poll."""
    return job_of_plans(3, site=site, url_count=30, url_submitted=3)


def test_the_sync_records_each_read_without_moving_a_version(esa: EsaClient) -> None:
    esa_sync(client=esa)
    site = Site.objects.get(esa_id=DEMO_SITE_ID)
    assert site.jobs_read_at is not None
    versions = sorted(Site.objects.values_list("pk", "version"))
    later = timezone.now() + timedelta(seconds=5)
    esa_sync(client=esa, now=later)  # ESA changed nothing meanwhile
    assert Site.objects.get(esa_id=DEMO_SITE_ID).jobs_read_at == later
    assert sorted(Site.objects.values_list("pk", "version")) == versions


def test_the_threshold_is_a_few_sync_periods_with_a_floor(settings: Settings) -> None:
    settings.PREFETCH_SYNC_PERIOD = 3.0
    assert mirror_stale_after() == timedelta(minutes=1)
    settings.PREFETCH_SYNC_PERIOD = 40.0
    assert mirror_stale_after() == timedelta(minutes=2)


def test_the_job_page_says_how_old_its_data_is_only_when_the_sync_is_behind(
    job: Job, site: Site, viewer_client: Client
) -> None:
    page = reverse("job-detail", args=[job.esa_id])
    _read(site, ago=timedelta(seconds=5))
    assert _note(viewer_client.get(page).content.decode()) == ""
    _read(site, ago=BEHIND)
    assert NOTE in _note(viewer_client.get(page).content.decode())
    # Never read (a site the sync just listed): as old as its row.
    Site.objects.filter(pk=site.pk).update(jobs_read_at=None, synced_at=timezone.now() - BEHIND)
    assert NOTE in _note(viewer_client.get(page).content.decode())


def test_a_polling_job_page_gets_the_note_when_the_sync_falls_behind_and_loses_it_when_it_catches_up(
    job: Job, site: Site, viewer_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    _read(site, ago=timedelta(seconds=5))
    url = _poll_url(viewer_client.get(reverse("job-detail", args=[job.esa_id])).content.decode(), "job-poll")

    _read(site, ago=BEHIND)  # no version moved
    response = viewer_client.get(url, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "HX-Retarget" not in response.headers
    assert (
        NOTE in _note(body)
        and 'id="mirror-age" class="warn" data-testid="mirror-age" hx-swap-oob="true"' in body
    )
    assert 'id="plan-' not in body and 'id="job-facts"' not in body  # nothing else changed

    url = _poll_url(body, "job-poll")
    with django_assert_num_queries(3):  # the session, the user, the job with its site's last read
        assert viewer_client.get(url, headers=HTMX).status_code == 204

    _read(site, ago=timedelta(seconds=1))
    body = viewer_client.get(url, headers=HTMX).content.decode()
    assert 'id="mirror-age"' in body and _note(body) == ""
    assert viewer_client.get(_poll_url(body, "job-poll"), headers=HTMX).status_code == 204


def test_a_polling_site_page_gets_the_note_and_keeps_its_cheap_no_change_answer(
    job: Job, site: Site, viewer_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    page = reverse("site-detail", args=[site.esa_id])
    _read(site, ago=timedelta(seconds=5))
    first = viewer_client.get(page).content.decode()
    assert _note(first) == ""
    url = _poll_url(first, "jobs-poll")

    _read(site, ago=BEHIND)
    body = viewer_client.get(url, headers=HTMX).content.decode()
    assert NOTE in _note(body) and 'hx-swap-oob="true"' in body and 'id="job-' not in body
    url = _poll_url(body, "jobs-poll")
    with django_assert_num_queries(3):  # the session, the user, the site
        assert viewer_client.get(url, headers=HTMX).status_code == 204
    assert NOTE in _note(viewer_client.get(page).content.decode())

    _read(site, ago=timedelta(seconds=1))
    body = viewer_client.get(url, headers=HTMX).content.decode()
    assert 'id="mirror-age"' in body and _note(body) == ""


@pytest.mark.parametrize("page", ["home", "overview", "timeline"])
def test_pages_of_every_site_say_how_many_are_behind_and_their_polls_redraw_for_it(
    job: Job, site: Site, viewer_client: Client, page: str
) -> None:
    other = SiteFactory.create(esa_id=DEMO_SITE_ID + 1, name="other.example")
    job_of_plans(2, site=other, url_count=20)
    _read(site, ago=timedelta(seconds=5))
    _read(other, ago=timedelta(seconds=5))
    first = viewer_client.get(reverse(page)).content.decode()
    assert _note(first) == ""
    url = re.findall(r'data-poll hx-get="([^"]+)"', first)[0].replace("&amp;", "&")
    assert viewer_client.get(url, headers=HTMX).status_code == 204

    _read(other, ago=BEHIND)
    response = viewer_client.get(url, headers=HTMX)
    assert response.status_code == 200
    assert f"{NOTE} for 1 of 2 sites" in _note(response.content.decode())
    assert f"{NOTE} for 1 of 2 sites" in _note(viewer_client.get(reverse(page)).content.decode())


def _mirror_ages(client: Client) -> dict[str, float]:
    response = client.get(reverse("metrics"))
    assert response.status_code == 200
    return {
        sample.labels["site"]: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name == "prefetch_mirror_age_seconds"
    }


def test_metrics_have_each_sites_mirror_age(site: Site, client: Client) -> None:
    other = SiteFactory.create(esa_id=DEMO_SITE_ID + 1, name="other.example")
    _read(site, ago=BEHIND)
    # A clock ahead: no negative age.
    site_jobs_read(site_ids=[other.pk], at=timezone.now() + timedelta(hours=1))
    ages = _mirror_ages(client)
    assert set(ages) == {"example.com", "other.example"}
    assert ages["example.com"] >= BEHIND.total_seconds()
    assert ages["other.example"] == 0.0
    response = client.get(reverse("metrics"))
    assert (
        f'prefetch_mirror_age_seconds{{site="example.com",site_id="{DEMO_SITE_ID}"}}'
        in response.content.decode()
    )
