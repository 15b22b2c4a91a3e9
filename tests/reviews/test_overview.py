"""The overview: each job's outlook and flags, sites needs-attention first, filters, and a query count
that does not grow with the sites and jobs shown."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.incidents.models import IncidentStatus
from prefetch_ui.prefetch.models import Plan
from prefetch_ui.reviews.selectors.overview import JOBS_PER_SITE, site_reviews, sort_by_attention
from tests.factories import JobFactory, PlanFactory, SiteFactory
from tests.review_estate import ReviewEstate, review_estate_create

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def estate(operator: User) -> ReviewEstate:
    return review_estate_create(now=timezone.now().replace(second=0, microsecond=0), held_by=operator)


def test_each_job_says_when_it_finishes_or_why_it_will_not(estate: ReviewEstate) -> None:
    reviews = {review.site.pk: review for review in site_reviews(now=estate.now)}
    jobs = {job.job.name: job for review in reviews.values() for job in review.jobs}
    now = estate.now

    # 600 URLs at 10 a minute, the next batch now: the last of 60 batches 59 minutes from now.
    spring = jobs["Spring sale"]
    assert (spring.estimate, spring.outlook.finishes_at, spring.flags) == (
        "finishes",
        now + timedelta(minutes=59),
        [],
    )
    # Starts in 2 h; 100 batches of 5.
    assert jobs["Catalogue"].outlook.finishes_at == now + timedelta(hours=2, minutes=99)
    # A failed plan, and nothing scheduled for the 80 URLs left.
    broken = jobs["Broken links"]
    assert (broken.estimate, broken.outlook.unscheduled, broken.flags) == (
        "will not finish",
        80,
        ["failed", "stalled"],
    )
    # Waiting 20 minutes past its start: late; ESA runs it at once when it can, so it still finishes.
    late = jobs["Late starter"]
    assert (late.flags, late.late_plans, late.estimate) == (["late"], 1, "finishes")
    # 11 batch times of 5 left in its window: 245 of 300 URLs have no plan.
    short = jobs["Short window"]
    assert (short.estimate, short.outlook.unscheduled, short.flags) == ("will not finish", 245, ["stalled"])
    # A stopped plan sends nothing more.
    assert (jobs["Paused"].outlook.unscheduled, jobs["Paused"].flags) == (70, ["stalled"])
    # Done jobs are not in play: counted, not listed.
    assert "Done already" not in jobs
    example = reviews[estate.site.pk]
    assert (example.job_count, example.jobs_in_play, example.jobs_done) == (7, 6, 1)
    assert (example.url_count, example.url_submitted) == (2250, 500)
    assert example.flags == ["failed", "late", "stalled"]
    assert example.unscheduled == 80 + 245 + 70
    assert example.finishes_at == now + timedelta(hours=2, minutes=99)


def test_a_held_site_says_held_not_stalled_and_its_parked_plan_is_no_estimate(estate: ReviewEstate) -> None:
    shop = next(review for review in site_reviews(now=estate.now) if review.site == estate.shop)
    (held,) = shop.jobs
    # Its stopped plan and its plan parked a year ahead: not "finishes in a year", but held.
    assert (held.estimate, held.flags, held.hold) == ("held", ["held"], estate.hold)
    assert (shop.hold, shop.flags, shop.unscheduled) == (estate.hold, ["held"], 0)

    # Once resumed, the hold no longer explains the URLs without a running plan.
    estate.hold.status = IncidentStatus.RESUMED
    estate.hold.save()
    shop = next(review for review in site_reviews(now=estate.now) if review.site == estate.shop)
    assert shop.hold is None and shop.jobs[0].estimate == "finishes"


def test_a_hold_of_every_site_covers_each_site(estate: ReviewEstate) -> None:
    estate.hold.site = None
    estate.hold.save()
    assert all(review.hold == estate.hold for review in site_reviews(now=estate.now))


def test_sites_needing_attention_come_first(estate: ReviewEstate) -> None:
    quiet = SiteFactory.create(esa_id=7, name="aaa.quiet.example")
    JobFactory.create(site=quiet, url_count=10, url_submitted=10)
    by_name = [review.site.name for review in site_reviews(now=estate.now)]
    assert by_name == ["aaa.quiet.example", "example.com", "shop.example.net"]
    by_attention = [review.site.name for review in sort_by_attention(site_reviews(now=estate.now))]
    assert by_attention == ["shop.example.net", "example.com", "aaa.quiet.example"]
    # Within a site, flagged jobs first.
    example = next(review for review in site_reviews(now=estate.now) if review.site == estate.site)
    assert [job.job.name for job in example.jobs][:2] == ["Broken links", "Late starter"]
    assert [job.job.name for job in example.jobs][-2:] == ["Spring sale", "Catalogue"]


def test_the_page_shows_flags_estimates_and_holds_to_a_viewer(
    estate: ReviewEstate, viewer_client: Client
) -> None:
    page = viewer_client.get(reverse("overview")).content.decode()
    assert page.index(f'data-site-review="{estate.shop.esa_id}"') < page.index(
        f'data-site-review="{estate.site.esa_id}"'
    )
    assert f"held by incident #{estate.hold.pk}" in page
    # The page's now is a few seconds past the estate's: a batch time fewer, at most.
    assert re.search(r"Will not finish: (245|250|255|260) URLs have no plan", page)
    assert 'data-flag="late"' in page and 'data-flag="stalled"' in page
    assert "InvalidDomain: invalid domain:test.com" in page
    assert "Estimated finish (Asia/Shanghai)" in page and "+08:00" in page
    assert 'hx-trigger="every 10s, poll-now"' in page  # plans are running: it polls


def test_a_job_whose_plan_failed_is_failed_even_with_every_url_submitted(viewer_client: Client) -> None:
    # ESA submitted all 10 URLs, but the plan failed (an invalid domain): red, never "Done".
    job = JobFactory.create(name="Invalid domain", url_count=10, url_submitted=10)
    PlanFactory.create(job=job, status="failed", start_time=timezone.now() - timedelta(hours=2))
    (review,) = site_reviews(now=timezone.now())
    (reviewed,) = review.jobs
    assert (reviewed.state, reviewed.flags) == ("failed", ["failed"])
    page = viewer_client.get(reverse("overview")).content.decode()
    assert "Every URL submitted, but a plan failed" in page and "Done: every URL submitted" not in page
    site_page = viewer_client.get(reverse("site-detail", args=[job.site.esa_id])).content.decode()
    assert 'class="progress failed"' in site_page  # the red bar


def test_a_site_that_is_not_active_says_why_its_waiting_plans_do_not_start(viewer_client: Client) -> None:
    pending = SiteFactory.create(esa_id=8, name="beta.example.io", status="pending")
    active = SiteFactory.create(esa_id=9, name="shop.example.net", status="active")
    waiting = JobFactory.create(site=pending, name="Beta launch", url_count=10)
    PlanFactory.create(job=waiting, status="waiting", start_time=timezone.now() - timedelta(hours=1))
    overview = viewer_client.get(reverse("overview")).content.decode()
    assert "site pending: ESA will not start its plans" in overview
    assert overview.count('data-testid="site-inactive"') == 1  # the active site says nothing
    for url in (reverse("site-detail", args=[pending.esa_id]), reverse("job-detail", args=[waiting.esa_id])):
        page = viewer_client.get(url).content.decode()
        assert "beta.example.io is pending in ESA, and ESA starts plans only on active sites" in page, url
    assert (
        'data-testid="site-inactive"'
        not in viewer_client.get(reverse("site-detail", args=[active.esa_id])).content.decode()
    )


def test_filters_narrow_the_sites_and_bad_ones_say_why(estate: ReviewEstate, viewer_client: Client) -> None:
    SiteFactory.create(esa_id=7, name="aaa.quiet.example")
    page = viewer_client.get(reverse("overview"), {"attention": "on"}).content.decode()
    assert 'data-site-review="7"' not in page and f'data-site-review="{estate.shop.esa_id}"' in page
    page = viewer_client.get(reverse("overview"), {"site": str(estate.site.esa_id)}).content.decode()
    assert f'data-site-review="{estate.site.esa_id}"' in page
    assert f'data-site-review="{estate.shop.esa_id}"' not in page
    for bad, message in (
        ({"site": "12x"}, "“12x” is not a site this dashboard knows."),
        ({"site": "999"}, "“999” is not a site this dashboard knows."),
        ({"sort": "size"}, "Select a valid choice. size is not one of the available choices."),
    ):
        response = viewer_client.get(reverse("overview"), bad)
        assert response.status_code == 400
        assert message in response.content.decode()


def _queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("overview")).status_code == 200
    return len(captured)


def test_the_query_count_does_not_grow_with_sites_jobs_and_plans(
    estate: ReviewEstate, viewer_client: Client
) -> None:
    before = _queries(viewer_client)
    now = estate.now
    for number in range(5):
        other = SiteFactory.create(esa_id=1000 + number, name=f"site{number}.example")
        for _ in range(JOBS_PER_SITE + 3):
            job = JobFactory.create(site=other, url_count=100, url_submitted=10)
            PlanFactory.create(job=job, status="running", start_time=now, end_time=now + timedelta(hours=1))
            PlanFactory.create(job=job, status="failed", start_time=now, end_time=now + timedelta(hours=1))
    assert Plan.objects.count() > 500
    assert _queries(viewer_client) == before
    # And no site lists more than its share; the rest are counted.
    review = next(review for review in site_reviews() if review.site.name == "site0.example")
    assert (len(review.jobs), review.jobs_not_shown) == (JOBS_PER_SITE, 3)
