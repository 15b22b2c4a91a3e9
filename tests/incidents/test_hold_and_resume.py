"""Holds and resumes with real parts: the simulator over HTTP, Redis, and a Celery worker."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator
from prefetch_ui.incidents.models import HeldPlan, HoldOutcome, Incident, ResumeOutcome
from prefetch_ui.prefetch.services.sync import esa_sync
from prefetch_ui.prefetch.tasks import esa_sync_task
from tests.accounts import OPERATOR
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SHOP = SEED_SITES[1]
# Work done by the worker, at the shared ESA call budget: a bound that only stops a broken hold from
# hanging the run, never a measure of speed (that is `make bench-incident`'s).
WORK_TIMEOUT = 120


@pytest.fixture
def sim(one_clock_sim: RunningSimulator) -> RunningSimulator:
    """ESA, the worker, the pages and Django on the clock this test moves (conftest's one_clock_sim)."""
    return one_clock_sim


def _now(clock: ManualClock) -> datetime:
    return clock.moment()


def _urls(host: str, count: int) -> list[str]:
    return [f"https://{host}/asset-{index}.js" for index in range(count)]


def _plans(esa: EsaClient, job_id: str) -> dict[str, EsaPlan]:
    return {plan.id: plan for plan in esa.list_scheduled_preload_executions(job_id).items}


def _calls_naming(sim: RunningSimulator, plan_id: str) -> list[str]:
    return [call["action"] for call in sim.calls() if call["params"].get("Id") == plan_id]


def _held(incident: Incident) -> bool:
    incident.refresh_from_db()
    return incident.status == "held"


def test_a_hold_stops_running_plans_parks_waiting_ones_and_resume_puts_back_exactly_those(
    esa: EsaClient, sim: RunningSimulator, clock: ManualClock, operator_client: Client
) -> None:
    now = _now(clock)
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Homepage", urls=_urls("example.com", 500)
    )
    running, soon, later, stopped_before = esa.create_scheduled_preload_executions(
        job.id,
        [
            PlanSpec(now, now + timedelta(hours=1), 1, 2),  # running: 2 URLs a second
            PlanSpec(now + timedelta(seconds=4), now + timedelta(hours=1), 1, 2),  # starts during the hold
            PlanSpec(now + timedelta(hours=2), now + timedelta(hours=3), 60, 10),  # waiting
            PlanSpec(now, now + timedelta(hours=1), 60, 1),  # stopped by hand before the hold
        ],
    ).succeeded
    clock.forward(1.1)  # the first batch of each plan starting now goes out: they are running
    esa.stop_scheduled_preload_execution(stopped_before.id)
    other = esa.create_scheduled_preload_job(
        site_id=SHOP.site_id, name="Elsewhere", urls=_urls(SHOP.site_name, 50)
    )
    (elsewhere,) = esa.create_scheduled_preload_executions(
        other.id, [PlanSpec(now, now + timedelta(hours=1), 1, 1)]
    ).succeeded
    esa_sync(client=esa)

    confirm = operator_client.get(reverse("hold-new") + f"?site={DEMO_SITE_ID}")
    body = confirm.content.decode()
    assert "<strong>1</strong> running plan will be stopped" in body
    assert "<strong>2</strong> waiting plans will be held" in body
    assert "Hold 3 plans on example.com" in body

    response = operator_client.post(
        reverse("hold-new"), {"site": DEMO_SITE_ID, "reason": "origin 5xx at 40%"}
    )
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "incident-detail", args=[incident.pk]
    )
    assert incident.site is not None and incident.held_by is not None
    assert (incident.reason, incident.site.esa_id, incident.held_by.username) == (
        "origin 5xx at 40%",
        DEMO_SITE_ID,
        OPERATOR.username,
    )
    # Done by the worker, sent by the click (no beat runs here to send it later).
    eventually(lambda: _held(incident), timeout=WORK_TIMEOUT, failure="the hold never completed")

    outcomes = dict(HeldPlan.objects.values_list("plan_esa_id", "hold_outcome"))
    assert outcomes == {running.id: "stopped", soon.id: "parked", later.id: "parked"}
    assert _calls_naming(sim, running.id)[-1:] == ["StopScheduledPreloadExecution"]
    assert _calls_naming(sim, soon.id) == ["UpdateScheduledPreloadExecution"]
    assert _calls_naming(sim, elsewhere.id) == []

    # Held: nothing of the site submits another URL, even past the start of the plan that was due.
    submitted = esa.get_scheduled_preload_job(job.id).url_submitted
    clock.forward(5)  # past the start of `soon`, and five batches' worth of the running plan
    assert esa.get_scheduled_preload_job(job.id).url_submitted == submitted
    during = _plans(esa, job.id)
    assert during[running.id].status == "stopped"
    parked_start = during[soon.id].start_time
    assert during[soon.id].status == "waiting" and parked_start and parked_start > now + timedelta(days=300)
    assert esa.get_scheduled_preload_job(other.id).url_submitted > 0  # another site is not held

    page = operator_client.get(reverse("site-detail", args=[DEMO_SITE_ID]))
    assert 'data-testid="hold-banner"' in page.content.decode()

    preview = operator_client.get(reverse("incident-resume", args=[incident.pk])).content.decode()
    assert "<strong>1</strong> stopped by the hold will be started again" in preview
    assert "<strong>2</strong> will get their original window back" in preview

    operator_client.post(
        reverse("incident-resume", args=[incident.pk]), {"reschedule": "on", "pace": "as_it_was"}
    )
    eventually(
        lambda: Incident.objects.get().status == "resumed", timeout=WORK_TIMEOUT, failure="never resumed"
    )
    after = _plans(esa, job.id)
    assert (after[later.id].start_time, after[later.id].end_time) == (later.start_time, later.end_time)
    assert (after[soon.id].start_time, after[soon.id].end_time) == (soon.start_time, soon.end_time)
    assert after[running.id].status in ("waiting", "running")
    assert after[stopped_before.id].status == "stopped"  # not held by the incident: not started
    assert _calls_naming(sim, stopped_before.id) == ["StopScheduledPreloadExecution"]
    assert _calls_naming(sim, elsewhere.id) == []
    assert set(HeldPlan.objects.values_list("resume_outcome", flat=True)) == {
        ResumeOutcome.STARTED,
        ResumeOutcome.RESTORED,
    }
    clock.forward(2)  # the plans put back send their next batches
    assert esa.get_scheduled_preload_job(job.id).url_submitted > submitted
    page = operator_client.get(reverse("site-detail", args=[DEMO_SITE_ID]))
    assert 'data-testid="hold-banner"' not in page.content.decode()


def test_the_sync_holds_what_starts_in_the_console_during_a_hold(
    esa: EsaClient, sim: RunningSimulator, clock: ManualClock, operator_client: Client
) -> None:
    now = _now(clock)
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Homepage", urls=_urls("example.com", 500)
    )
    (running,) = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(now, now + timedelta(hours=1), 1, 2)]
    ).succeeded
    clock.forward(1.1)  # its first batch goes out: running
    esa_sync(client=esa)
    operator_client.post(reverse("hold-new"), {"site": DEMO_SITE_ID})
    incident = Incident.objects.get()
    eventually(lambda: _held(incident), timeout=WORK_TIMEOUT)

    # In the console: the stopped plan is started again, and a new plan is created to run now.
    esa.start_scheduled_preload_execution(running.id)
    (newcomer,) = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(now + timedelta(minutes=30), now + timedelta(hours=2), 60, 5)]
    ).succeeded
    assert _plans(esa, job.id)[running.id].status == "running"  # started: its next batch went out

    esa_sync_task.delay()
    eventually(
        lambda: (
            _plans(esa, job.id)[running.id].status == "stopped"
            and HeldPlan.objects.filter(plan_esa_id=newcomer.id, hold_outcome=HoldOutcome.PARKED).exists()
        ),
        timeout=WORK_TIMEOUT,
        failure="the sync did not hold what started during the hold",
    )
    assert HeldPlan.objects.get(plan_esa_id=running.id).rehold_count == 1
    assert HeldPlan.objects.get(plan_esa_id=newcomer.id).found_by == "sync"
    eventually(lambda: _held(incident), timeout=WORK_TIMEOUT)
    detail = operator_client.get(reverse("incident-detail", args=[incident.pk])).content.decode()
    assert "Found by the sync during the hold" in detail and "Held again after starting elsewhere" in detail
