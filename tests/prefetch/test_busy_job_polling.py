"""A busy job's poll sends only the rows whose shown content changed.

An active job's progress moves on every sync cycle. No plan row shows anything derived from it (the
ETA is one of the job's facts), so a poll then sends the facts and no row; a row is sent when its
own plan, its operation or its hold changed, or, for a failed plan, when the job's ErrorInfo it
shows did. Counted in rows sent and queries, never in time.
"""

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
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.prefetch.models import Job, Operation, Plan, PlanStatus, Site
from prefetch_ui.prefetch.selectors.jobs import PLANS_PER_PAGE
from prefetch_ui.prefetch.services.mirror_writes import jobs_upsert
from tests.esa_changes import esa_says
from tests.factories import JobFactory, PlanFactory, SiteFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
URLS = 100_000


def _busy_job(
    site: Site, plans: int, *, status: PlanStatus = PlanStatus.RUNNING, error_info: str = ""
) -> Job:
    """A job of `plans` plans of one status, an hour apart from now, straight in the mirror."""
    job = JobFactory.create(site=site, url_count=URLS, url_submitted=10, error_info=error_info)
    start = timezone.now()
    Plan.objects.bulk_create(
        PlanFactory.build(job=job, start_time=start + timedelta(hours=index), status=status, slice_len=5)
        for index in range(plans)
    )
    return job


def _esa_reports(job: Job, *, url_submitted: int, error_info: str = "") -> None:
    """A sync reads the job with this progress (and ErrorInfo), as it does every cycle."""
    mirror = Job.objects.select_related("site").get(pk=job.pk)
    esa_job = EsaJob(
        id=mirror.esa_id,
        site_id=mirror.site.esa_id,
        name=mirror.name,
        url_count=mirror.url_count,
        url_submitted=url_submitted,
        error_info=error_info,
    )
    jobs_upsert(site=mirror.site, jobs=[esa_job], now=timezone.now())


def _plans(job: Job) -> list[Plan]:
    return list(Plan.objects.filter(job=job).order_by("start_time", "id"))


def _poll_url(body: str) -> str:
    match = re.search(r'id="job-poll"[^>]*hx-get="([^"]+)"', body)
    assert match is not None, "the page does not poll"
    return match.group(1).replace("&amp;", "&")


def _page_poll_url(client: Client, job: Job, page: int = 1) -> str:
    return _poll_url(client.get(reverse("job-detail", args=[job.esa_id]), {"page": page}).content.decode())


def _rows_sent(body: str) -> list[str]:
    return re.findall(r'<tr id="plan-(\w+)"', body)


def test_a_busy_jobs_moved_progress_sends_its_facts_and_no_row(site: Site, operator_client: Client) -> None:
    job = _busy_job(site, 1000)
    url = _page_poll_url(operator_client, job)
    _esa_reports(job, url_submitted=5_000)
    response = operator_client.get(url, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "HX-Retarget" not in response.headers
    assert _rows_sent(body) == []
    assert "5000 / 100000" in body and 'data-testid="job-eta"' in body
    # The job's estimate, from the one model of estimates: the first plans' shares, the rest counted.
    assert "All URLs sent by" in body and "and 990 more open plans" in body
    assert operator_client.get(_poll_url(body), headers=HTMX).status_code == 204


def test_a_busy_jobs_poll_sends_exactly_the_rows_that_changed(site: Site, operator_client: Client) -> None:
    job = _busy_job(site, 1000)
    plans = _plans(job)
    first, third = _page_poll_url(operator_client, job), _page_poll_url(operator_client, job, page=3)
    _esa_reports(job, url_submitted=5_000)
    for index in (3, 57, 250, 999):
        esa_says(plans[index], slice_len=9)
    _esa_reports(job, url_submitted=5_500)
    assert _rows_sent(operator_client.get(first, headers=HTMX).content.decode()) == [
        plans[3].esa_id,
        plans[57].esa_id,
    ]
    assert _rows_sent(operator_client.get(third, headers=HTMX).content.decode()) == [plans[250].esa_id]


def test_a_busy_jobs_poll_costs_as_many_queries_whatever_its_plans(
    site: Site, operator_client: Client
) -> None:
    queries = []
    for plans in (PLANS_PER_PAGE + 1, 1000):
        job = _busy_job(site, plans)
        url = _page_poll_url(operator_client, job)
        _esa_reports(job, url_submitted=5_000)
        esa_says(_plans(job)[7], slice_len=9)
        with CaptureQueriesContext(connection) as captured:
            body = operator_client.get(url, headers=HTMX).content.decode()
        assert len(_rows_sent(body)) == 1
        queries.append(len(captured))
    assert queries[0] == queries[1]


def test_failed_rows_are_sent_again_only_when_the_errorinfo_they_show_changed(
    site: Site, operator_client: Client
) -> None:
    job = _busy_job(site, 150, status=PlanStatus.FAILED, error_info="QuotaExcess")
    url = _page_poll_url(operator_client, job)
    _esa_reports(job, url_submitted=20, error_info="QuotaExcess")
    body = operator_client.get(url, headers=HTMX).content.decode()
    assert _rows_sent(body) == []

    _esa_reports(job, url_submitted=20, error_info="QuotaExcess: 2 URLs refused")
    body = operator_client.get(_poll_url(body), headers=HTMX).content.decode()
    assert _rows_sent(body) == [plan.esa_id for plan in _plans(job)[:PLANS_PER_PAGE]]
    assert body.count("QuotaExcess: 2 URLs refused") == PLANS_PER_PAGE + 1  # the rows, and the facts

    _esa_reports(job, url_submitted=30, error_info="QuotaExcess: 2 URLs refused")
    assert _rows_sent(operator_client.get(_poll_url(body), headers=HTMX).content.decode()) == []


# -- for every order of events: the page a poll keeps patching shows what a fresh page would ------------


def _row_html(body: str) -> dict[str, str]:
    """The plan rows of an answer, by plan id, as they show (without how they are swapped)."""
    rows = re.findall(r'(<tr id="plan-(\w+)".*?</tr>)', body, flags=re.DOTALL)
    return {esa_id: " ".join(html.replace(' hx-swap-oob="true"', "").split()) for html, esa_id in rows}


class PolledJobPage(RuleBasedStateMachine):
    """A job page open in a tab, patched by its polls, while the sync and operators change the job."""

    def __init__(self) -> None:
        super().__init__()
        self.client = Client()
        self.submitted = 10
        self.error_info = ""

    @initialize(statuses=st.lists(st.sampled_from(list(PlanStatus)), min_size=1, max_size=6))
    def open_the_page(self, statuses: list[PlanStatus]) -> None:
        site = SiteFactory.create()
        self.user = User.objects.create_user("poll-operator", is_superuser=True)
        self.client.force_login(self.user)
        self.job = JobFactory.create(site=site, url_count=URLS, url_submitted=self.submitted)
        start = timezone.now()
        Plan.objects.bulk_create(
            PlanFactory.build(job=self.job, start_time=start + timedelta(hours=index), status=status)
            for index, status in enumerate(statuses)
        )
        body = self.client.get(reverse("job-detail", args=[self.job.esa_id])).content.decode()
        self.rows, self.url = _row_html(body), _poll_url(body)

    def teardown(self) -> None:
        Operation.objects.all().delete()
        Plan.objects.all().delete()
        Job.objects.all().delete()
        Site.objects.all().delete()
        User.objects.filter(username="poll-operator").delete()

    @rule(step=st.integers(min_value=1, max_value=500))
    def the_sync_reads_more_progress(self, step: int) -> None:
        self.submitted += step
        _esa_reports(self.job, url_submitted=self.submitted, error_info=self.error_info)

    @rule(error_info=st.sampled_from(["", "QuotaExcess", "Throttled"]))
    def the_sync_reads_another_errorinfo(self, error_info: str) -> None:
        self.error_info = error_info
        _esa_reports(self.job, url_submitted=self.submitted, error_info=error_info)

    @rule(data=st.data(), status=st.sampled_from(list(PlanStatus)), slice_len=st.integers(1, 3))
    def the_sync_reads_a_changed_plan(self, data: st.DataObject, status: PlanStatus, slice_len: int) -> None:
        plans = _plans(self.job)
        esa_says(data.draw(st.sampled_from(plans)), status=status, slice_len=slice_len)

    @rule()
    def the_page_polls(self) -> None:
        response = self.client.get(self.url, headers=HTMX)
        if response.status_code != 204:
            body = response.content.decode()
            if "HX-Retarget" in response.headers:
                self.rows = _row_html(body)
            else:
                self.rows |= _row_html(body)
            self.url = _poll_url(body)
        fresh = self.client.get(reverse("job-detail", args=[self.job.esa_id])).content.decode()
        assert self.rows == _row_html(fresh)


def test_a_polled_job_page_shows_what_a_fresh_one_would_in_any_order_of_changes(db: None) -> None:
    run_state_machine_as_test(
        PolledJobPage,
        settings=settings(
            max_examples=25,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
