"""Creating jobs and batches of plans through operations: nothing created twice, nothing lost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, Limits, SimConfig
from prefetch_ui.esa_sim.testing import RunningSimulator, running_simulator
from prefetch_ui.prefetch.models import Job, Operation, Plan, Site
from prefetch_ui.prefetch.services.creates import job_create_request, plans_create_request
from prefetch_ui.prefetch.services.operations import operation_execute
from prefetch_ui.prefetch.services.sync import esa_sync

pytestmark = pytest.mark.django_db(transaction=True)

URLS = [f"https://example.com/{index}" for index in range(30)]


def _spec(hours: int, interval: int = 60, slice_len: int = 10) -> PlanSpec:
    start = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(hours=hours)
    return PlanSpec(start, start + timedelta(hours=1), interval, slice_len)


def _site(client: EsaClient) -> Site:
    esa_sync(client=client)
    return Site.objects.get(esa_id=DEMO_SITE_ID)


@contextmanager
def _answers_lost(tmp_path: Path, action: str) -> Iterator[tuple[RunningSimulator, EsaClient]]:
    """A simulator that carries out `action` and then answers 500, as if the answer were lost."""
    config = SimConfig(
        state_path=tmp_path / "s.sqlite3",
        ambiguous_fault_rate=1.0,
        ambiguous_fault_actions=frozenset({action}),
    )
    with running_simulator(config) as sim, sim.client() as client:
        yield sim, client


def _mirrored_job(client: EsaClient) -> Job:
    """A job created in ESA on the synced example.com, and synced in turn."""
    _site(client)
    esa_job = client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=URLS)
    esa_sync(client=client)
    return Job.objects.get(esa_id=esa_job.id)


def test_a_job_is_created_once_and_mirrored(esa: EsaClient, sim: RunningSimulator, operator: User) -> None:
    site = _site(esa)
    operation, created = job_create_request(
        user=operator, site=site, form_token="a" * 24, name="New", urls=URLS
    )
    again, created_again = job_create_request(
        user=operator, site=site, form_token="a" * 24, name="New", urls=URLS
    )
    assert (created, created_again, again.pk) == (True, False, operation.pk)
    operation_execute(operation_id=operation.pk, client=esa)
    operation.refresh_from_db()
    job = Job.objects.get(name="New")
    assert (operation.status, operation.result["job_esa_id"], operation.job) == ("succeeded", job.esa_id, job)
    assert job.url_count == 30
    assert len(sim.calls("CreateScheduledPreloadJob")) == 1


def test_a_lost_answer_to_a_job_create_is_looked_up_not_resent(tmp_path: Path, operator: User) -> None:
    with _answers_lost(tmp_path, "CreateScheduledPreloadJob") as (sim, client):
        site = _site(client)
        operation, _ = job_create_request(
            user=operator, site=site, form_token="b" * 24, name="Once", urls=URLS
        )
        operation_execute(operation_id=operation.pk, client=client)
        operation.refresh_from_db()
        assert operation.status == "pending"  # the answer was lost: try again, looking first
        esa_sync(client=client)  # meanwhile the mirror already shows the new job
        operation_execute(operation_id=operation.pk, client=client)
        operation.refresh_from_db()
        assert (operation.status, operation.attempts) == ("succeeded", 2)
        assert len(sim.calls("CreateScheduledPreloadJob")) == 1
        assert [job.name for job in client.list_scheduled_preload_jobs(site_id=DEMO_SITE_ID).items] == [
            "Once"
        ]
        assert Job.objects.get(name="Once").esa_id == operation.result["job_esa_id"]


def test_a_batch_with_a_refused_plan_keeps_the_others_and_never_resends_them(
    tmp_path: Path, operator: User
) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3", limits=Limits(max_plans_per_job=2))
    with running_simulator(config) as sim, sim.client() as client:
        job = _mirrored_job(client)
        operation, _ = plans_create_request(
            user=operator,
            job=job,
            form_token="c" * 24,
            plans={"r1": _spec(0), "r2": _spec(2), "r3": _spec(4)},
        )
        operation_execute(operation_id=operation.pk, client=client)
        operation.refresh_from_db()
        rows = operation.result["rows"]
        assert (rows["r1"]["status"], rows["r2"]["status"], rows["r3"]["status"]) == (
            "created",
            "created",
            "refused",
        )
        assert "maximum of 2 plans" in rows["r3"]["message"]
        assert (operation.status, operation.error_code) == ("failed", "PlansRefused")
        assert set(Plan.objects.filter(job=job).values_list("esa_id", flat=True)) == {
            rows["r1"]["plan_id"],
            rows["r2"]["plan_id"],
        }
        (call,) = sim.calls("CreateScheduledPreloadExecutions")
        assert call["params"]["Id"] == job.esa_id
        assert job.site.pk


def test_a_lost_answer_to_a_batch_is_matched_to_its_rows_not_resent(tmp_path: Path, operator: User) -> None:
    with _answers_lost(tmp_path, "CreateScheduledPreloadExecutions") as (sim, client):
        job = _mirrored_job(client)
        operation, _ = plans_create_request(
            user=operator, job=job, form_token="d" * 24, plans={"r1": _spec(0), "r2": _spec(2, 30, 5)}
        )
        operation_execute(operation_id=operation.pk, client=client)
        esa_sync(client=client)  # the mirror already shows the new plans
        operation_execute(operation_id=operation.pk, client=client)
        operation.refresh_from_db()
        assert (operation.status, operation.attempts) == ("succeeded", 2)
        assert {row["status"] for row in operation.result["rows"].values()} == {"created"}
        assert len(sim.calls("CreateScheduledPreloadExecutions")) == 1
        assert Plan.objects.filter(job=job).count() == 2
        assert not Operation.objects.exclude(pk=operation.pk).exists()


def test_the_site_page_shows_a_job_being_created_then_the_job(
    esa: EsaClient, sim: RunningSimulator, operator: User, operator_client: Client
) -> None:
    site = _site(esa)
    operation, _ = job_create_request(
        user=operator, site=site, form_token="e" * 24, name="Fresh <b>job</b>", urls=URLS
    )
    page = operator_client.get(reverse("site-detail", args=[DEMO_SITE_ID])).content.decode()
    assert "Creating…" in page
    assert "“Fresh &lt;b&gt;job&lt;/b&gt;”" in page  # a name is text, never markup
    assert 'hx-trigger="every 5s, poll-now"' in page  # the table polls until the job is there
    operation_execute(operation_id=operation.pk, client=esa)
    page = operator_client.get(reverse("site-detail", args=[DEMO_SITE_ID])).content.decode()
    assert "Creating…" not in page
    assert 'data-job="' in page and "Fresh &lt;b&gt;job&lt;/b&gt;</a>" in page

    failing, _ = job_create_request(user=operator, site=site, form_token="9" * 24, name="Full", urls=URLS)
    # Recorded as a worker records ESA's refusal (the refusal itself is tested over HTTP above).
    Operation.objects.filter(pk=failing.pk).update(
        status="failed", error_code="InvalidJob.JobCountOfSiteFull", error_message="The maximum number…"
    )
    page = operator_client.get(reverse("site-detail", args=[DEMO_SITE_ID])).content.decode()
    assert "not created: <strong>InvalidJob.JobCountOfSiteFull</strong>" in page


def test_refused_rows_come_back_to_the_builder_alone_with_esas_reason(
    tmp_path: Path, operator: User, operator_client: Client
) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3", limits=Limits(max_plans_per_job=1))
    with running_simulator(config) as sim, sim.client() as client:
        job = _mirrored_job(client)
        operation, _ = plans_create_request(
            user=operator, job=job, form_token="7" * 24, plans={"r1": _spec(0), "r2": _spec(5, 120, 3)}
        )
        operation_execute(operation_id=operation.pk, client=client)
    job_page = operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    fix_url = f"{reverse('plan-builder', args=[job.esa_id])}?fix={operation.pk}"
    assert fix_url in job_page
    builder = operator_client.get(fix_url).content.decode()
    assert builder.count('name="row"') == 1  # only the refused plan; the created one is not offered again
    assert 'value="120"' in builder and 'value="3"' in builder
    assert "ESA refused it: execution id:" in builder
    assert "maximum of 1 plans" in builder
