"""The scan finds events where the real services left them: a hold opened, completed and resumed
on the simulator by a real worker, told to a webhook in order; a failed plan; a create ESA refused;
a job whose URLs have no plan or that will finish after its deadline; a stale sync; a queue with no
worker. Each is recorded once, however often the scan runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from django.contrib.auth.models import User
from django.utils import timezone
from pytest_django import Settings

from prefetch_ui.core.metrics import SYNC_LAST_SUCCESS_KEY
from prefetch_ui.core.queues import queue_consumers
from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, Limits, SimConfig
from prefetch_ui.esa_sim.testing import running_simulator
from prefetch_ui.incidents.models import HeldPlan, Incident, StepState
from prefetch_ui.incidents.services.holds import hold_request
from prefetch_ui.incidents.services.resumes import resume_request
from prefetch_ui.notifications.models import ChannelKind, Delivery, DeliveryStatus, Event, EventKind
from prefetch_ui.notifications.services.channels import channel_create, job_deadline_set
from prefetch_ui.notifications.services.outbox import deliveries_sweep
from prefetch_ui.notifications.services.scan import notifications_scan
from prefetch_ui.prefetch.models import Job, OperationKind, OperationStatus, PlanStatus, Site
from prefetch_ui.prefetch.services.creates import plans_create_request
from prefetch_ui.prefetch.services.operations import operation_execute
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.factories import JobFactory, OperationFactory, PlanFactory
from tests.holds import hold_done
from tests.notifications.receivers import standard_webhooks_receiver
from tests.polling import eventually

WORK_TIMEOUT = 120


def _kinds() -> list[str]:
    return list(Event.objects.order_by("id").values_list("kind", flat=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_hold_on_the_simulator_is_told_opened_completed_and_resumed_in_order(
    esa: EsaClient, operator: User
) -> None:
    now = datetime.now(UTC)
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Homepage", urls=[f"https://example.com/{n}.js" for n in range(50)]
    )
    esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(now + timedelta(hours=2), now + timedelta(hours=3), 60, 10)]
    )
    esa_sync(client=esa)
    secrets: list[str] = []
    with standard_webhooks_receiver(secrets) as (url, received):
        _, secret = channel_create(
            user=operator,
            name="hook",
            kind=ChannelKind.WEBHOOK,
            url=url,
            events=[EventKind.HOLD_OPENED, EventKind.HOLD_COMPLETED, EventKind.HOLD_RESUMED],
            sites=[Site.objects.get(esa_id=DEMO_SITE_ID)],
        )
        secrets.append(secret)
        incident, _ = hold_request(
            user=operator, site=Site.objects.get(esa_id=DEMO_SITE_ID), reason="origin down"
        )
        eventually(lambda: Incident.objects.get().status == "held", timeout=WORK_TIMEOUT)
        notifications_scan()
        resume_request(user=operator, incident=Incident.objects.get(), reschedule=False)
        eventually(lambda: Incident.objects.get().status == "resumed", timeout=WORK_TIMEOUT)
        notifications_scan()
        notifications_scan()

        def delivered() -> bool:
            deliveries_sweep()
            return Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 3

        eventually(delivered, timeout=WORK_TIMEOUT)
    assert _kinds() == ["hold.opened", "hold.completed", "hold.resumed"]
    assert [got["payload"]["type"] for got in received.accepted] == [
        "hold.opened",
        "hold.completed",
        "hold.resumed",
    ]
    opened = received.accepted[0]["payload"]["data"]
    assert (opened["scope"], opened["reason"], opened["by"]) == (
        "example.com",
        "origin down",
        operator.username,
    )
    assert opened["url"] == f"/incidents/{incident.pk}/"


@pytest.mark.django_db
def test_a_failed_plan_and_a_refused_create_job_are_told_once(site: Site) -> None:
    PlanFactory.create(job__site=site, status=PlanStatus.FAILED)
    OperationFactory.create(
        kind=OperationKind.JOB_CREATE,
        plan=None,
        job=None,
        site=site,
        target_esa_id="form-token",
        target_label="Homepage",
        status=OperationStatus.FAILED,
        error_code="InvalidParameter.Url",
        error_message="The url is invalid.",
        request_id="REQ-1",
        finished_at=timezone.now(),
    )
    assert notifications_scan() == 2
    assert notifications_scan() == 0
    refused = Event.objects.get(kind=EventKind.CREATE_REFUSED)
    assert (refused.data["error_code"], refused.data["request_id"]) == ("InvalidParameter.Url", "REQ-1")
    assert sorted(_kinds()) == ["create.refused", "plan.failed"]


@pytest.mark.django_db
def test_a_job_with_urls_no_plan_will_send_and_one_past_its_deadline(site: Site, settings: Settings) -> None:
    settings.PREFETCH_NOTIFY_JOBS_SCAN_PERIOD = 0
    now = timezone.now()
    short = JobFactory.create(site=site, url_count=10_000, url_submitted=0, name="Too short")
    # 10 URLs a minute for an hour, both ends included: 610 of 10,000 (as the job page says it).
    PlanFactory.create(
        job=short, start_time=now, end_time=now + timedelta(hours=1), interval=60, slice_len=10
    )
    late = JobFactory.create(site=site, url_count=100, url_submitted=0, name="Late")
    PlanFactory.create(job=late, start_time=now, end_time=now + timedelta(hours=5), interval=60, slice_len=1)
    job_deadline_set(job=late, deadline=now + timedelta(minutes=30), user=None)
    notifications_scan(now=now)
    notifications_scan(now=now)
    events = {event.kind: event for event in Event.objects.all()}
    assert set(events) == {EventKind.JOB_UNSCHEDULED, EventKind.JOB_LATE}
    assert events[EventKind.JOB_UNSCHEDULED].data["job"] == "Too short"
    assert events[EventKind.JOB_UNSCHEDULED].data["unscheduled_urls"] == 9_390
    assert events[EventKind.JOB_LATE].data["job"] == "Late"
    # A new deadline is news again.
    job_deadline_set(job=late, deadline=now + timedelta(minutes=40), user=None)
    assert notifications_scan(now=now) == 1


@pytest.mark.django_db
def test_a_stale_sync_is_told_once_per_outage(broker: str, settings: Settings) -> None:
    settings.PREFETCH_NOTIFY_SYNC_STALE_SECONDS = 60
    connection = redis.Redis.from_url(broker)
    connection.set(SYNC_LAST_SUCCESS_KEY, repr(time.time()))
    assert notifications_scan() == 0
    connection.set(SYNC_LAST_SUCCESS_KEY, repr(time.time() - 600))
    assert notifications_scan() == 1
    assert notifications_scan() == 0
    assert _kinds() == ["sync.stale"]
    connection.set(SYNC_LAST_SUCCESS_KEY, repr(time.time() - 300))  # another outage
    assert notifications_scan() == 1


@pytest.mark.django_db
def test_a_queue_no_worker_consumes_is_told_once_it_lasted(settings: Settings) -> None:
    settings.PREFETCH_NOTIFY_NO_WORKER_SECONDS = 60
    start = timezone.now()
    assert notifications_scan(now=start) == 0  # no worker beats here: the condition starts
    assert notifications_scan(now=start + timedelta(seconds=61)) == 2
    assert notifications_scan(now=start + timedelta(seconds=62)) == 0
    assert sorted(event.data["queue"] for event in Event.objects.all()) == ["celery", "incidents"]


@pytest.mark.django_db
def test_a_hold_with_failed_steps_is_told_once_with_their_count(operator: User, site: Site) -> None:
    job = JobFactory.create(site=site)
    PlanFactory.create(job=job, status=PlanStatus.RUNNING)
    PlanFactory.create(job=job, status=PlanStatus.WAITING, start_time=timezone.now() + timedelta(hours=2))
    incident = hold_done(user=operator, site=site)
    HeldPlan.objects.filter(incident=incident, hold_action="stop").update(
        state=StepState.FAILED, hold_outcome="", error_code="Throttling"
    )
    notifications_scan()
    notifications_scan()
    failed = Event.objects.get(kind=EventKind.HOLD_FAILED_STEPS)
    assert failed.key == f"incident:{incident.pk}:failed_steps:hold"
    assert failed.data["failed_steps"] == 1 and failed.title == "Hold of example.com: 1 step(s) failed"
    assert sorted(_kinds()) == ["hold.completed", "hold.failed_steps", "hold.opened"]


@pytest.mark.django_db
def test_esa_unreachable_says_why_the_sync_fails(broker: str, settings: Settings, site: Site) -> None:
    settings.PREFETCH_NOTIFY_SYNC_STALE_SECONDS = 60
    Site.objects.filter(pk=site.pk).update(
        sync_error="EsaTransportError: could not connect to ESA", sync_error_at=timezone.now()
    )
    redis.Redis.from_url(broker).set(SYNC_LAST_SUCCESS_KEY, repr(time.time() - 600))
    assert notifications_scan() == 1
    stale = Event.objects.get()
    assert stale.title.startswith("ESA unreachable: the sync has not succeeded for ")
    assert stale.data["sync_error"] == "EsaTransportError: could not connect to ESA"


@pytest.mark.django_db(transaction=True)
def test_a_create_esa_refuses_on_the_simulator_is_told_with_esas_reason(
    tmp_path: Path, operator: User
) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3", limits=Limits(max_plans_per_job=1))
    with running_simulator(config) as sim, sim.client() as client:
        esa_sync(client=client)
        esa_job = client.create_scheduled_preload_job(
            site_id=DEMO_SITE_ID, name="j", urls=[f"https://example.com/{n}" for n in range(30)]
        )
        esa_sync(client=client)
        job = Job.objects.get(esa_id=esa_job.id)
        start = datetime(2031, 1, 1, tzinfo=UTC)
        spec = PlanSpec(start, start + timedelta(hours=1), 60, 10)
        later = PlanSpec(start + timedelta(hours=2), start + timedelta(hours=3), 60, 10)
        operation, _ = plans_create_request(
            user=operator, job=job, form_token="c" * 24, plans={"r1": spec, "r2": later}
        )
        operation_execute(operation_id=operation.pk, client=client)
    operation.refresh_from_db()
    assert operation.status == "failed"
    assert notifications_scan() == 1
    refused = Event.objects.get(kind=EventKind.CREATE_REFUSED)
    assert refused.key == f"operation:{operation.pk}:refused"
    assert (refused.data["error_code"], refused.data["by"]) == ("PlansRefused", operator.username)
    assert refused.data["path"] == f"/jobs/{job.esa_id}/"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_no_queue_is_told_while_a_worker_consumes_each(settings: Settings) -> None:
    settings.PREFETCH_NOTIFY_NO_WORKER_SECONDS = 0
    eventually(lambda: queue_consumers("incidents") and queue_consumers("celery"))
    assert notifications_scan() == 0
    assert not Event.objects.exists()
