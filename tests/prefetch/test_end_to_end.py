"""The whole loop with real parts: htmx POST → operation → Redis → Celery worker → ESA (simulator) → page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.models import Operation, Plan
from prefetch_ui.prefetch.tasks import esa_sync_task
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_pressing_stop_on_a_running_plan(
    esa: EsaClient, sim: RunningSimulator, operator_client: Client
) -> None:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Homepage", urls=[f"https://example.com/{index}" for index in range(300)]
    )
    start = datetime.now(UTC).replace(microsecond=0)
    (plan,) = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start + timedelta(hours=1), 60, 5)]
    ).succeeded

    # The sync runs in the worker, as beat would have it.
    esa_sync_task.delay()
    eventually(lambda: Plan.objects.filter(esa_id=plan.id, status="running").exists())

    page = operator_client.get(reverse("job-detail", args=[job.id]))
    assert b"running" in page.content
    assert b'hx-trigger="every 2s, poll-now, job-changed from:body"' in page.content  # unfinished: it polls

    clicked = operator_client.post(reverse("plan-action", args=[plan.id, "stop"]), HTTP_HX_REQUEST="true")
    assert "Stopping…" in clicked.content.decode()

    eventually(lambda: Operation.objects.filter(status="succeeded").exists())
    (stop_call,) = sim.calls("StopScheduledPreloadExecution")
    assert stop_call["params"] == {"Id": plan.id}
    operation = Operation.objects.get()
    assert operation.request_id == stop_call["request_id"]

    poll = operator_client.get(reverse("job-detail", args=[job.id]) + "?poll=1", HTTP_HX_REQUEST="true")
    assert b'data-testid="plan-status">stopped' in poll.content
    assert poll.status_code == 286  # everything is terminal: htmx stops polling
    assert b"every 2s" not in poll.content  # and the region it sends no longer asks to
