"""The outbox: an event recorded with a delivery per subscribed channel in one transaction, each
channel's deliveries sent in order by a worker after commit, failures retried with exponential
backoff from the database (the beat's sweep sends what is due), never in the way of what caused
the event: recording is a few inserts, sending happens elsewhere."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Min
from django.utils import timezone

from prefetch_ui.dispatch import dispatch_after_commit, task_send
from prefetch_ui.prefetch.models import Site

from ..channels import Answer, channel_send
from ..messages import event_envelope
from ..models import (
    UNSETTLED_DELIVERY_STATUSES,
    Channel,
    Delivery,
    DeliveryStatus,
    Event,
    EventKind,
)
from ..tasks import channel_send_task

logger = logging.getLogger(__name__)


def _without_nul(value: Any) -> Any:
    """`value` with NUL characters taken out of its strings: PostgreSQL refuses them in text and JSON,
    and an ESA message or a receiver's answer could carry one."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(key).replace("\x00", ""): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


def _subscribed(channel: Channel, *, kind: str, site_id: int | None) -> bool:
    if not channel.enabled or kind not in channel.events:
        return False
    site_ids = {site.pk for site in channel.sites.all()}
    return not site_ids or site_id is None or site_id in site_ids


def _send_after_commit(channel_ids: list[int]) -> None:
    for channel_id in channel_ids:
        dispatch_after_commit(channel_send_task, [channel_id], what=f"the deliveries of channel {channel_id}")


@transaction.atomic
def event_record(
    *,
    key: str,
    kind: str,
    title: str,
    data: dict[str, Any],
    site: Site | None = None,
    occurred_at: datetime | None = None,
    channels: list[Channel] | None = None,
) -> Event | None:
    """Record the event named `key` with a delivery to each channel subscribed to it (or to
    `channels`, for a test), unless it was recorded before: then nothing, and None."""
    # As it is written (PostgreSQL refuses NUL in a query too, and keeps 255 characters).
    key = _without_nul(key)[:255]
    if Event.objects.filter(key=key).exists():
        return None
    try:
        with transaction.atomic():
            event = Event.objects.create(
                key=key,
                kind=kind,
                title=_without_nul(title)[:255],
                data=_without_nul(data),
                site=site,
                occurred_at=occurred_at or timezone.now(),
            )
    except IntegrityError:  # another scan recorded it meanwhile
        return None
    if channels is None:
        candidates = Channel.objects.filter(enabled=True).prefetch_related("sites")
        channels = [c for c in candidates if _subscribed(c, kind=kind, site_id=site.pk if site else None)]
    now = timezone.now()
    envelope = event_envelope(event)
    Delivery.objects.bulk_create(
        [
            Delivery(channel=channel, event=event, payload=envelope, next_attempt_at=now)
            for channel in channels
        ]
    )
    _send_after_commit([channel.pk for channel in channels])
    return event


def retry_delay(attempts: int) -> timedelta:
    """How long after its `attempts`-th failure a delivery is tried again: doubling from the base."""
    base = settings.PREFETCH_NOTIFY_RETRY_BASE_SECONDS
    return timedelta(
        seconds=min(settings.PREFETCH_NOTIFY_RETRY_MAX_SECONDS, base * 2 ** max(0, attempts - 1))
    )


def _head(channel_id: int) -> Delivery | None:
    """The channel's oldest unsettled delivery: the only one that may be sent now."""
    return (
        Delivery.objects.filter(channel_id=channel_id, status__in=UNSETTLED_DELIVERY_STATUSES)
        .order_by("id")
        .first()
    )


def _record(delivery: Delivery, answer: Answer, *, now: datetime) -> None:
    fields: dict[str, Any] = {
        "answer_code": answer.code[:64],
        "error": answer.error[:500],
        "claimed_at": None,
    }
    if answer.delivered:
        fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now, error="")
    elif answer.permanent or delivery.attempts >= settings.PREFETCH_NOTIFY_MAX_ATTEMPTS:
        fields.update(status=DeliveryStatus.FAILED)
    else:
        fields.update(status=DeliveryStatus.PENDING, next_attempt_at=now + retry_delay(delivery.attempts))
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(**fields)
    outcome = "delivered" if answer.delivered else fields["status"]
    logger.info(
        "notification delivery %s (event %s, channel %s, attempt %d): %s %s",
        delivery.pk,
        delivery.event_id,
        delivery.channel_id,
        delivery.attempts,
        outcome,
        answer.code,
    )


def channel_deliveries_send(*, channel_id: int) -> int:
    """Send the channel's due deliveries in order, until one fails (it waits its backoff, and so do
    the ones after it) or none is left. Returns how many were delivered. Safe to run twice at once:
    each delivery is claimed (pending → sending) before it is sent."""
    delivered = 0
    while True:
        now = timezone.now()
        head = _head(channel_id)
        if head is None or head.status != DeliveryStatus.PENDING or head.next_attempt_at > now:
            return delivered
        claimed = Delivery.objects.filter(pk=head.pk, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
        if not claimed:
            return delivered
        head.refresh_from_db()
        channel = Channel.objects.filter(pk=channel_id).first()
        if channel is None:  # removed meanwhile, with its deliveries
            return delivered
        answer = channel_send(channel=channel, payload=head.payload, message_id=head.message_id)
        _record(head, answer, now=timezone.now())
        if not answer.delivered:
            return delivered
        delivered += 1


def deliveries_sweep(*, now: datetime | None = None) -> list[int]:
    """Release deliveries whose sender was lost (claimed longer ago than a send can take), then send
    a task for each channel whose next delivery is due. Returns those channels."""
    now = now or timezone.now()
    lost = now - timedelta(seconds=settings.PREFETCH_NOTIFY_TIMEOUT * 3 + 30)
    Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=lost).update(
        status=DeliveryStatus.PENDING, claimed_at=None, next_attempt_at=now
    )
    heads = (
        Delivery.objects.filter(status__in=UNSETTLED_DELIVERY_STATUSES)
        .values("channel_id")
        .annotate(head=Min("id"))
        .values_list("head", flat=True)
    )
    due = list(
        Delivery.objects.filter(pk__in=list(heads), status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .values_list("channel_id", flat=True)
        .distinct()
    )
    for channel_id in due:
        task_send(channel_send_task, [channel_id], what=f"the deliveries of channel {channel_id}")
    return due


@transaction.atomic
def delivery_send_again(*, delivery_id: int) -> bool:
    """Send a delivery again (a person asked): back to pending, due now, its attempts counted anew.
    It goes out in its place in its channel's order, before the deliveries after it."""
    updated = (
        Delivery.objects.filter(pk=delivery_id)
        .exclude(status=DeliveryStatus.SENDING)
        .update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), claimed_at=None)
    )
    if updated:
        channel_id = Delivery.objects.values_list("channel_id", flat=True).get(pk=delivery_id)
        _send_after_commit([channel_id])
    return bool(updated)


def channel_test_send(*, channel: Channel, by: str) -> Event | None:
    """A test message to `channel` only, through the outbox like any other."""
    now = timezone.now()
    return event_record(
        key=f"test:{channel.pk}:{now.timestamp():.6f}",
        kind=EventKind.TEST,
        title=f"Test message to channel {channel.name}",
        data={"by": by, "channel": channel.name},
        occurred_at=now,
        channels=[channel],
    )
