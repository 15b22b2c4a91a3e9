"""A finished or failed plan cannot be edited: ESA runs it no more, so a new window would only
make the page show a plan "finished" at a time it never ran. The simulator, the service and the
job page all refuse it; a stopped or waiting plan stays editable (holds and resumes move them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.esa import EsaApiError, EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.esa_sim.testing import ManualClock
from prefetch_ui.prefetch.models import Operation, Plan
from prefetch_ui.prefetch.services.plan_edits import PlanEditRefused, plan_edit_refusal, plan_update_request
from prefetch_ui.prefetch.services.sync import esa_sync

HTMX = {"HX-Request": "true"}
URLS = [f"https://example.com/asset/{index}.js" for index in range(10)]
FIELDS = {
    "start_time": "2030-06-01T09:30",
    "end_time": "2030-06-01T18:00",
    "interval": "120",
    "slice_len": "25",
}


# -- the simulator refuses what ESA would not change ----------------------------------------------


@pytest.mark.parametrize("outcome", ["finished", "failed"])
def test_the_simulator_refuses_to_move_a_settled_plan(
    clock: ManualClock, clocked_esa_client: EsaClient, outcome: str
) -> None:
    esa = clocked_esa_client
    # The failed plan's one batch is a URL of another site's domain: ESA refuses all it sent.
    urls = URLS if outcome == "finished" else ["https://example.com/a", "https://shop.example.net/x"]
    site_id = DEMO_SITE_ID if outcome == "finished" else SEED_SITES[1].site_id
    job = esa.create_scheduled_preload_job(site_id=site_id, name="j", urls=urls)
    now = clock.moment()
    one_batch = PlanSpec(now, now + timedelta(seconds=30), 60, 1)
    (plan,) = esa.create_scheduled_preload_executions(job.id, [one_batch]).succeeded
    clock.forward(1)
    (settled,) = esa.list_scheduled_preload_executions(job.id).items
    assert settled.status == outcome
    later = now + timedelta(days=1)
    with pytest.raises(EsaApiError) as refused:
        esa.update_scheduled_preload_execution(plan.id, PlanSpec(later, later + timedelta(hours=1), 60, 10))
    assert (refused.value.status, refused.value.code) == (400, "OperationDenied.ExecutionSettled")
    assert f"The execution plan is {outcome}" in refused.value.message
    (unchanged,) = esa.list_scheduled_preload_executions(job.id).items
    assert (unchanged.status, unchanged.start_time) == (outcome, settled.start_time)


def test_the_simulator_still_moves_a_stopped_plan(clock: ManualClock, clocked_esa_client: EsaClient) -> None:
    esa = clocked_esa_client
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=URLS)
    now = clock.moment()
    (plan,) = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(now, now + timedelta(hours=1), 60, 1)]
    ).succeeded
    clock.forward(1)
    esa.stop_scheduled_preload_execution(plan.id)
    later = now.replace(microsecond=0) + timedelta(days=1)
    moved = esa.update_scheduled_preload_execution(
        plan.id, PlanSpec(later, later + timedelta(hours=1), 60, 1)
    )
    assert (moved.status, moved.start_time) == ("stopped", later)


# -- the service and the pages -------------------------------------------------------------------


@pytest.fixture
def plan(esa: EsaClient) -> Plan:
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=URLS)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    esa.create_scheduled_preload_executions(job.id, [PlanSpec(start, start + timedelta(hours=2), 60, 10)])
    esa_sync(client=esa)
    return Plan.objects.select_related("job__site").get(job__esa_id=job.id)


@pytest.mark.parametrize("status", ["finished", "failed"])
@pytest.mark.django_db
def test_the_service_refuses_a_settled_plan(plan: Plan, operator: User, status: str) -> None:
    Plan.objects.filter(pk=plan.pk).update(status=status)
    plan.refresh_from_db()
    assert plan_edit_refusal(plan=plan).startswith(f"This plan is {status}: ESA does not run it again")
    with pytest.raises(PlanEditRefused, match=f"This plan is {status}"):
        plan_update_request(user=operator, plan=plan, params={"interval": 60})
    assert not Operation.objects.exists()


@pytest.mark.parametrize("status", ["waiting", "running", "stopped"])
@pytest.mark.django_db
def test_the_service_lets_an_unsettled_plan_be_edited(plan: Plan, status: str) -> None:
    Plan.objects.filter(pk=plan.pk).update(status=status)
    plan.refresh_from_db()
    assert plan_edit_refusal(plan=plan) == ""


@pytest.mark.parametrize("status", ["finished", "failed"])
@pytest.mark.django_db
def test_a_post_straight_to_the_editor_is_refused_and_changes_nothing(
    plan: Plan, operator_client: Client, status: str
) -> None:
    Plan.objects.filter(pk=plan.pk).update(status=status)
    url = reverse("plan-edit", args=[plan.esa_id])
    for headers in (HTMX, {}):
        response = operator_client.post(url, FIELDS, headers=headers)
        assert response.status_code == 409
        assert response["Content-Type"].startswith("text/plain")
        assert f"This plan is {status}: ESA does not run it again" in response.content.decode()
    page = operator_client.get(url).content.decode()
    assert f"This plan is {status}: ESA does not run it again" in page
    assert 'name="start_time"' not in page  # no form to fill in for nothing
    assert not Operation.objects.exists()
    assert Plan.objects.get(pk=plan.pk).start_time == datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_the_job_page_offers_no_edit_on_a_settled_plan_and_says_why(
    plan: Plan, operator_client: Client
) -> None:
    Plan.objects.filter(pk=plan.pk).update(status="finished")
    page = operator_client.get(reverse("job-detail", args=[plan.job.esa_id])).content.decode()
    assert reverse("plan-edit", args=[plan.esa_id]) not in page
    assert 'data-testid="plan-not-editable"' in page
    Plan.objects.filter(pk=plan.pk).update(status="stopped")
    Plan.objects.filter(pk=plan.pk).update(version=plan.version + 1)
    page = operator_client.get(reverse("job-detail", args=[plan.job.esa_id])).content.decode()
    assert reverse("plan-edit", args=[plan.esa_id]) in page
