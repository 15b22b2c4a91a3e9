"""The outbox against a real Celery worker: a webhook endpoint that is down (refuses connections)
gets every delivery once it is back, each once and in order; and what caused an event never waits
for its delivery. The sweep, which the beat runs in production, is run by the test in a loop."""

from __future__ import annotations

import pytest
from django.db import transaction
from pytest_django import Settings

from prefetch_ui.notifications.models import Channel, ChannelKind, Delivery, DeliveryStatus, EventKind
from prefetch_ui.notifications.services.channels import channel_create
from prefetch_ui.notifications.services.outbox import deliveries_sweep, event_record
from tests.notifications.receivers import free_port, standard_webhooks_receiver
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

EVENTS = 6
# Attempts of the first delivery seen failing before the endpoint comes back.
DOWN_FOR_ATTEMPTS = 3
WORK_TIMEOUT = 60


@pytest.fixture(autouse=True)
def _quick_retries(settings: Settings) -> None:
    settings.PREFETCH_NOTIFY_RETRY_BASE_SECONDS = 0.05
    settings.PREFETCH_NOTIFY_RETRY_MAX_SECONDS = 0.3
    settings.PREFETCH_NOTIFY_MAX_ATTEMPTS = 10_000
    settings.PREFETCH_NOTIFY_TIMEOUT = 2


def test_an_endpoint_down_for_a_while_gets_every_delivery_once_back_in_order() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/prefetch"
    channel, secret = channel_create(
        user=None, name="down", kind=ChannelKind.WEBHOOK, url=url, events=[EventKind.PLAN_FAILED], sites=[]
    )
    keys = [f"plan:{index}:failed" for index in range(EVENTS)]
    for key in keys:
        with transaction.atomic():  # each event its own action, committed, sent by the worker after
            event_record(key=key, kind=EventKind.PLAN_FAILED, title=key, data={"plan": key})

    def head_attempts() -> bool:
        deliveries_sweep()
        first = Delivery.objects.order_by("id").first()
        return first is not None and first.attempts >= DOWN_FOR_ATTEMPTS

    eventually(
        head_attempts, timeout=WORK_TIMEOUT, interval=0.05, failure="the worker never tried the endpoint"
    )
    # In order: while the first is not delivered, none after it was even tried.
    assert list(Delivery.objects.order_by("id").values_list("attempts", flat=True))[1:] == [0] * (EVENTS - 1)
    assert set(Delivery.objects.values_list("status", flat=True)) <= {
        DeliveryStatus.PENDING,
        DeliveryStatus.SENDING,
    }
    assert "connection refused" in Delivery.objects.order_by("id").values_list("answer_code", flat=True)[0]

    with standard_webhooks_receiver([secret], port=port) as (_, received):

        def all_delivered() -> bool:
            deliveries_sweep()
            return not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()

        eventually(all_delivered, timeout=WORK_TIMEOUT, interval=0.05, failure="not every delivery arrived")
    assert [got["payload"]["type"] for got in received.accepted] == ["plan.failed"] * EVENTS
    assert [got["payload"]["data"]["title"] for got in received.accepted] == keys
    assert len({got["headers"]["webhook-id"] for got in received.accepted}) == EVENTS
    assert Channel.objects.get(pk=channel.pk).deliveries.count() == EVENTS


def test_an_event_is_recorded_while_its_endpoint_hangs_without_waiting_for_it() -> None:
    """Recording is inserts in the caller's transaction; the send is the worker's."""
    channel_create(
        user=None,
        name="nowhere",
        kind=ChannelKind.SLACK,
        url=f"http://127.0.0.1:{free_port()}/x",
        events=[EventKind.HOLD_OPENED],
        sites=[],
    )
    with transaction.atomic():
        event = event_record(key="k", kind=EventKind.HOLD_OPENED, title="t", data={})
    assert event is not None
    assert Delivery.objects.get().status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
