"""Operations: asked for in a web request, carried out by a task, never lost, never doubled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.dev.embedded_redis import redis_server
from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.models import Job, Operation, OperationKind, Plan
from prefetch_ui.prefetch.services import operations
from prefetch_ui.prefetch.services.operations import operation_execute, operation_request, operation_sweep
from prefetch_ui.prefetch.services.sync import esa_sync

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HX-Request": "true"}


@pytest.fixture
def plan(esa: EsaClient) -> Plan:
    """A running plan, mirrored."""
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Homepage", urls=[f"https://example.com/{index}" for index in range(500)]
    )
    start = datetime.now(UTC).replace(microsecond=0)
    esa.create_scheduled_preload_executions(job.id, [PlanSpec(start, start + timedelta(hours=2), 60, 5)])
    esa_sync(client=esa)
    return Plan.objects.select_related("job__site").get(job__esa_id=job.id)


def test_a_second_click_joins_the_first(
    plan: Plan, operator_client: Client, sim: RunningSimulator, esa: EsaClient, broker: str
) -> None:
    queue = redis.Redis.from_url(broker)
    queue.flushdb()
    url = reverse("plan-action", args=[plan.esa_id, "stop"])
    first = operator_client.post(url, headers=HTMX)
    second = operator_client.post(url, headers=HTMX)
    assert first.status_code == second.status_code == 200
    assert "Stopping…" in second.content.decode()  # shown in place of the buttons
    assert queue.llen("celery") == 1  # one task message reached the broker
    (operation,) = Operation.objects.all()
    # Even a redelivered task message makes one ESA call.
    operation_execute(operation_id=operation.pk, client=esa)
    operation_execute(operation_id=operation.pk, client=esa)
    assert len(sim.calls("StopScheduledPreloadExecution")) == 1
    operation.refresh_from_db()
    assert (operation.status, operation.attempts, len(operation.request_id)) == ("succeeded", 1, 36)
    assert Plan.objects.get(pk=plan.pk).status == "stopped"


def test_a_dispatch_lost_while_redis_is_down_is_sent_by_the_sweep(
    plan: Plan,
    operator_client: Client,
    sim: RunningSimulator,
    esa: EsaClient,
    tmp_path: Path,
    switch_broker: Callable[[str], None],
) -> None:
    with redis_server(tmp_path) as doomed_redis:
        switch_broker(doomed_redis)
    # Redis is gone: the click is recorded all the same, and the page answers at once.
    response = operator_client.post(reverse("plan-action", args=[plan.esa_id, "stop"]), headers=HTMX)
    assert response.status_code == 200
    operation = Operation.objects.get()
    assert (operation.status, operation.dispatched_at) == ("pending", None)
    assert operation_sweep(dispatch=lambda _: None) == []  # too recent to be presumed lost
    executed: list[int] = []

    def run_now(operation_id: int) -> None:
        executed.append(operation_id)
        operation_execute(operation_id=operation_id, client=esa)

    assert operation_sweep(now=operation.created_at + timedelta(seconds=10), dispatch=run_now) == [
        operation.pk
    ]
    operation.refresh_from_db()
    assert operation.status == "succeeded"
    assert len(sim.calls("StopScheduledPreloadExecution")) == 1


def test_a_worker_lost_mid_call_is_resumed_by_the_sweep(plan: Plan, operator: User, esa: EsaClient) -> None:
    operation, _ = operation_request(user=operator, kind=OperationKind.PLAN_STOP, target=plan)
    Operation.objects.filter(pk=operation.pk).update(
        status="running", started_at=datetime.now(UTC), attempts=1
    )
    later = datetime.now(UTC) + operations.RUNNING_STALE_AFTER + timedelta(seconds=1)
    assert operation_sweep(now=later, dispatch=lambda pk: operation_execute(operation_id=pk, client=esa)) == [
        operation.pk
    ]
    operation.refresh_from_db()
    assert (operation.status, operation.attempts) == ("succeeded", 2)


def test_an_esa_error_shows_on_the_row_with_a_retry_button(
    plan: Plan, operator: User, operator_client: Client, esa: EsaClient
) -> None:
    esa.delete_scheduled_preload_execution(plan.esa_id)  # gone in ESA, still in the mirror
    operation, _ = operation_request(user=operator, kind=OperationKind.PLAN_STOP, target=plan)
    operation_execute(operation_id=operation.pk, client=esa)
    operation.refresh_from_db()
    assert (operation.status, operation.error_code) == ("failed", "InvalidExecution.NotFound")
    page = operator_client.get(reverse("job-detail", args=[plan.job.esa_id])).content.decode()
    row = page[page.index(f'data-plan="{plan.esa_id}"') :].split("</tr>")[0]
    assert "InvalidExecution.NotFound" in row
    assert operation.request_id in row
    assert reverse("operation-retry", args=[operation.pk]) in row

    retried = operator_client.post(reverse("operation-retry", args=[operation.pk]), headers=HTMX)
    assert retried.status_code == 200
    assert Operation.objects.filter(status="pending", kind="plan_stop").count() == 1


def test_transient_failures_go_back_to_pending_until_attempts_run_out(
    plan: Plan, operator: User, tmp_path: Path
) -> None:
    from prefetch_ui.esa_sim import SimConfig
    from prefetch_ui.esa_sim.testing import running_simulator

    operation, _ = operation_request(user=operator, kind=OperationKind.PLAN_STOP, target=plan)
    config = SimConfig(state_path=tmp_path / "down.sqlite3", fault_rate=1.0)
    with running_simulator(config) as broken, broken.client() as failing:
        for attempt in range(1, operations.MAX_OPERATION_ATTEMPTS + 1):
            operation_execute(operation_id=operation.pk, client=failing)
            operation.refresh_from_db()
            assert operation.attempts == attempt
            expected = "failed" if attempt == operations.MAX_OPERATION_ATTEMPTS else "pending"
            assert (operation.status, operation.error_code) == (expected, "ServiceUnavailable")


def test_a_retried_delete_of_something_already_gone_succeeds(
    plan: Plan, operator: User, esa: EsaClient
) -> None:
    esa.delete_scheduled_preload_execution(plan.esa_id)
    operation, _ = operation_request(user=operator, kind=OperationKind.PLAN_DELETE, target=plan)
    operation_execute(operation_id=operation.pk, client=esa)
    operation.refresh_from_db()
    assert operation.status == "succeeded"
    assert not Plan.objects.filter(pk=plan.pk).exists()


def test_reset_and_delete_a_job(plan: Plan, operator: User, esa: EsaClient, sim: RunningSimulator) -> None:
    job = plan.job
    reset, _ = operation_request(user=operator, kind=OperationKind.JOB_RESET, target=job)
    operation_execute(operation_id=reset.pk, client=esa)
    assert Job.objects.get(pk=job.pk).url_submitted == 0
    delete, _ = operation_request(user=operator, kind=OperationKind.JOB_DELETE, target=job)
    operation_execute(operation_id=delete.pk, client=esa)
    assert not Job.objects.filter(pk=job.pk).exists()
    delete.refresh_from_db()
    assert (delete.status, delete.target_esa_id, delete.job) == ("succeeded", job.esa_id, None)
    assert [call["params"]["Id"] for call in sim.calls("DeleteScheduledPreloadJob")] == [job.esa_id]


def test_an_operation_that_keeps_losing_its_worker_fails_instead_of_looping(
    plan: Plan, operator: User
) -> None:
    operation, _ = operation_request(user=operator, kind=OperationKind.PLAN_STOP, target=plan)
    Operation.objects.filter(pk=operation.pk).update(
        status="running", started_at=datetime.now(UTC), attempts=operations.MAX_OPERATION_ATTEMPTS
    )
    later = datetime.now(UTC) + operations.RUNNING_STALE_AFTER + timedelta(seconds=1)
    assert operation_sweep(now=later, dispatch=lambda _: None) == []
    operation.refresh_from_db()
    assert (operation.status, operation.error_code) == ("failed", "WorkerLost")


def test_an_unexpected_error_is_recorded_not_left_running(plan: Plan, operator: User, esa: EsaClient) -> None:
    operation, _ = operation_request(
        user=operator, kind=OperationKind.PLAN_UPDATE, target=plan, params={"start_time": "not a time"}
    )
    operation_execute(operation_id=operation.pk, client=esa)
    operation.refresh_from_db()
    assert operation.status == "failed"
    assert operation.error_code in ("KeyError", "EsaTimeError")


def test_an_esa_error_longer_than_its_columns_is_recorded_cut(plan: Plan, operator: User) -> None:
    """PostgreSQL refuses what does not fit a column (SQLite keeps it): the failure is recorded anyway."""

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"Code": "Odd." + "C" * 200, "Message": "no", "RequestId": "R" * 100})

    operation, _ = operation_request(user=operator, kind=OperationKind.PLAN_STOP, target=plan)
    with EsaClient(
        endpoint="http://esa.test",
        access_key_id="id",
        access_key_secret="secret",
        transport=httpx.MockTransport(refuse),
    ) as client:
        done = operation_execute(operation_id=operation.pk, client=client)
    assert done is not None
    assert (done.status, done.error_code, done.request_id) == ("failed", ("Odd." + "C" * 200)[:128], "R" * 64)
