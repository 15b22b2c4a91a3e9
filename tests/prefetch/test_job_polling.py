"""A job page's poll says which version it shows: nothing changed since costs one query and gets
204 with no body; a change gets only the rows of that page that changed, swapped out of band; a
list that changed shape gets the whole region; and the terminal-state rule (286) stays."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries, Settings

from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.prefetch.models import Job, OperationKind, Plan, PlanStatus, Site
from prefetch_ui.prefetch.selectors.jobs import PLANS_PER_PAGE
from prefetch_ui.prefetch.services.mirror_writes import jobs_upsert, plan_forget
from prefetch_ui.prefetch.services.operations import operation_request
from tests.esa_changes import esa_says, job_of_plans

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def job(site: Site) -> Job:
    """A running job of 150 plans: two pages, the first plan running, the rest waiting."""
    return job_of_plans(150, site=site, url_count=1500, url_submitted=10)


def _plans(job: Job) -> list[Plan]:
    return list(Plan.objects.filter(job=job).order_by("start_time", "id"))


def _poll_url(region: str) -> str:
    match = re.search(r'id="job-poll"[^>]*hx-get="([^"]+)"', region)
    assert match is not None, "the page does not poll"
    return match.group(1).replace("&amp;", "&")


def test_a_poll_that_finds_nothing_changed_gets_204_for_one_query(
    job: Job, operator_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    url = _poll_url(operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode())
    with django_assert_num_queries(3):  # the session, the user, the job: no plan, no template
        response = operator_client.get(url, headers=HTMX)
    assert (response.status_code, response.content) == (204, b"")


def test_a_poll_gets_only_the_changed_rows_of_its_page_and_the_new_version(
    job: Job, operator_client: Client
) -> None:
    url = _poll_url(operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode())
    plans = _plans(job)
    esa_says(plans[3], interval=120)
    esa_says(plans[120], interval=120)  # on the second page: not this page's business
    response = operator_client.get(url, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "HX-Retarget" not in response.headers
    assert re.findall(r'<tr id="plan-(\w+)"[^>]*hx-swap-oob="true"', body) == [plans[3].esa_id]
    assert "<template>" in body and 'id="job-live"' not in body and "<html" not in body
    assert len(body) < 8_000  # not the table: a page of 100 rows is about 100 KB
    job.refresh_from_db()
    assert _poll_url(body) == url.replace("v=0", f"v={job.version}")
    assert 'id="job-poll"' in body and 'hx-swap-oob="true"' in body.split('id="job-poll"')[1].split(">")[0]
    # Asked again with the new version: nothing.
    assert operator_client.get(_poll_url(body), headers=HTMX).status_code == 204


def test_a_list_that_changed_shape_is_sent_whole(job: Job, operator_client: Client) -> None:
    url = _poll_url(operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode())
    plan_forget(esa_id=_plans(job)[0].esa_id)  # the rows below it move up
    response = operator_client.get(url, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#job-live", "outerHTML")
    assert body.count("data-plan=") == PLANS_PER_PAGE and 'hx-swap-oob="true"' not in body


def test_a_list_of_one_status_is_sent_whole_when_a_status_changed(job: Job, operator_client: Client) -> None:
    page = operator_client.get(reverse("job-detail", args=[job.esa_id]), {"status": "waiting"})
    url = _poll_url(page.content.decode())
    plans = _plans(job)
    esa_says(plans[5], slice_len=20)  # no status changed: its row alone
    body = operator_client.get(url, headers=HTMX).content.decode()
    assert re.findall(r'<tr id="plan-(\w+)"', body) == [plans[5].esa_id]
    esa_says(plans[5], status=PlanStatus.RUNNING)
    response = operator_client.get(_poll_url(body), headers=HTMX)
    assert response.headers["HX-Retarget"] == "#job-live"
    assert plans[5].esa_id not in response.content.decode()  # it left the list of waiting plans


def test_the_last_change_of_a_finished_job_stops_the_poll(job: Job, operator_client: Client) -> None:
    url = _poll_url(operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode())
    Plan.objects.filter(job=job).exclude(status=PlanStatus.RUNNING).update(status=PlanStatus.FINISHED)
    esa_says(_plans(job)[0], status=PlanStatus.FINISHED)
    response = operator_client.get(url, headers=HTMX)
    assert response.status_code == 286
    assert "every 2s" not in response.content.decode()  # the new poll element waits for a click only


def test_a_poll_from_a_page_that_said_no_version_gets_the_whole_region(
    job: Job, operator_client: Client
) -> None:
    response = operator_client.get(reverse("job-detail", args=[job.esa_id]), {"poll": "1"}, headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Retarget"] == "#job-live"
    assert response.content.decode().count("data-plan=") == PLANS_PER_PAGE


def test_each_part_of_the_page_is_sent_only_when_it_changed(
    job: Job, operator: User, operator_client: Client
) -> None:
    url = _poll_url(operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode())
    plans = _plans(job)

    # A plan's batch size: its row, nothing else.
    esa_says(plans[9], slice_len=50)
    body = operator_client.get(url, headers=HTMX).content.decode()
    assert _oob_ids(body) == ["job-poll", f"plan-{plans[9].esa_id}"]

    # The job's progress: the facts (its ETA among them), and no row: none shows the progress.
    url = _poll_url(body)
    mirror = Job.objects.select_related("site").get(pk=job.pk)
    jobs_upsert(
        site=mirror.site,
        jobs=[
            EsaJob(
                id=job.esa_id, site_id=mirror.site.esa_id, name=mirror.name, url_count=1500, url_submitted=40
            )
        ],
        now=timezone.now(),
    )
    body = operator_client.get(url, headers=HTMX).content.decode()
    assert _oob_ids(body) == ["job-poll", "job-facts", "plan-filter"]
    assert "40 / 1500" in body and 'data-testid="job-eta"' in body

    # An operation on a plan: its row ("Stopping…"), the facts and the operations.
    url = _poll_url(body)
    operation_request(user=operator, kind=OperationKind.PLAN_STOP, target=plans[0])
    body = operator_client.get(url, headers=HTMX).content.decode()
    assert _oob_ids(body) == [
        "job-poll",
        "job-facts",
        "plan-filter",
        f"plan-{plans[0].esa_id}",
        "job-operations",
    ]
    assert "Stopping…" in body


def _oob_ids(body: str) -> list[str]:
    """The ids of the elements an answer swaps out of band, in order."""
    return re.findall(r'<\w+ [^>]*?id="([\w-]+)"[^>]*hx-swap-oob="true"', body)


def test_the_server_sets_how_often_a_page_polls(job: Job, viewer_client: Client, settings: Settings) -> None:
    page = viewer_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    assert 'hx-trigger="every 2s, poll-now, job-changed from:body"' in page
    settings.PREFETCH_POLL_MIN_SECONDS = 7
    page = viewer_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    assert 'hx-trigger="every 7s, poll-now, job-changed from:body"' in page


@pytest.mark.parametrize("page", ["²", "abc", "0", "-1"])
def test_a_poll_with_a_page_that_is_no_page_number_is_refused(
    job: Job, operator_client: Client, page: str
) -> None:
    url = _poll_url(operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode())
    esa_says(_plans(job)[3], interval=120)
    response = operator_client.get(url.replace("page=1", f"page={page}"), headers=HTMX)
    # Never read as page 1 ("²" passed str.isdigit() and made int() raise: a 500).
    assert response.status_code == 400
    assert f"Page “{page}” is not a page number" in response.content.decode()


@pytest.mark.parametrize("page", ["3", "99999999999", "9" * 5000])
def test_a_poll_of_a_page_past_the_last_finds_nothing_changed_on_it(
    job: Job, operator_client: Client, page: str
) -> None:
    url = _poll_url(operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode())
    esa_says(_plans(job)[3], interval=120)
    response = operator_client.get(url.replace("page=1", f"page={page}"), headers=HTMX)
    assert response.status_code == 200
    assert 'id="plan-' not in response.content.decode()
