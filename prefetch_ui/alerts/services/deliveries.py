"""Taking a delivery at a receiver's address: check it, read it, act on each alert, record it.

In order: the size (413), the sender's token or signature (401), the body's format (422), the
signed timestamp (401), a delivery id taken before (409). A refused delivery holds nothing and is
recorded with why; a taken one is recorded with what each alert did, in one transaction with the
holds it made (all or nothing). Never the token, the secret or a signature in a record or a log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Delivery, Receiver, ReceiverKind, SeenDelivery
from ..payloads import (
    FIRING,
    AlertEvent,
    Parsed,
    PayloadInvalid,
    alertmanager_parse,
    grafana_parse,
    pagerduty_parse,
    standard_parse,
)
from ..verification import Refused, delivery_verify, timestamp_check
from .holds import alert_fire, alert_resolve, resume_plan
from .scopes import alert_scope

logger = logging.getLogger(__name__)

# The largest body taken: Alertmanager's biggest groups are far below it.
BODY_LIMIT = 1024 * 1024
# Delivery ids are kept this long: longer than the 5 minutes a signed timestamp is accepted, so a
# replay within the window is always known.
SEEN_KEEP = timedelta(hours=1)
# Deliveries listed on a receiver's page are kept this long, and no more than this many a receiver
# (a sender gone wild must not fill the database).
DELIVERIES_KEEP = timedelta(days=30)
DELIVERIES_KEPT_PER_RECEIVER = 1000

PARSERS = {
    ReceiverKind.ALERTMANAGER: alertmanager_parse,
    ReceiverKind.GRAFANA: grafana_parse,
    ReceiverKind.PAGERDUTY: pagerduty_parse,
    ReceiverKind.STANDARD: standard_parse,
}


@dataclass(frozen=True, slots=True)
class Answer:
    """The HTTP answer to the sender: `status` and its JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


def _record(receiver: Receiver, *, status: int, code: str, message: str = "", **fields: Any) -> None:
    Delivery.objects.create(
        receiver=receiver, status_code=status, code=code, message=message[:2000], **fields
    )


def _refusal(receiver: Receiver, refused: Refused, *, size: int, delivery_id: str = "") -> Answer:
    _record(
        receiver,
        status=refused.status,
        code=refused.code,
        message=refused.message,
        body_size=size,
        delivery_id=delivery_id,
    )
    logger.info("alert delivery refused", extra={"receiver": receiver.pk, "code": refused.code})
    body: dict[str, Any] = {"code": refused.code, "message": refused.message, "field": refused.field}
    return Answer(refused.status, body)


def _clean(value: str) -> str:
    return value.replace("\x00", "")[:255]


def _occurred_check(parsed: Parsed, now: datetime) -> None:
    """PagerDuty signs no timestamp header: its event's `occurred_at` (inside the signed body) is it."""
    if not parsed.occurred_at:
        return
    try:
        occurred = datetime.fromisoformat(parsed.occurred_at)
    except ValueError:
        raise Refused(
            status=422,
            code="payload_invalid",
            message="event.occurred_at is not an ISO 8601 time.",
            field="event.occurred_at",
        ) from None
    if occurred.tzinfo is None:
        raise Refused(
            status=422,
            code="payload_invalid",
            message="event.occurred_at has no time zone.",
            field="event.occurred_at",
        )
    timestamp_check(str(occurred.timestamp()), now=now, header="event.occurred_at")


def _dry_run_action(receiver: Receiver, alert: AlertEvent) -> str:
    label = f"{alert.name} ({alert.fingerprint})"
    if alert.status == FIRING:
        scope = alert_scope(receiver=receiver, alert=alert)
        if not scope.holds:
            return f"dry run: {label} would hold nothing: {scope.refusal}"
        return f"dry run: {label} would hold {scope.label}"
    return f"dry run: {label} resolved: would release its hold, then {resume_plan(receiver)}"


def _act(receiver: Receiver, alert: AlertEvent, now: datetime) -> str:
    if alert.status != FIRING:
        return alert_resolve(receiver=receiver, alert=alert, now=now)
    scope = alert_scope(receiver=receiver, alert=alert)
    if not scope.holds:
        return f"{alert.name} ({alert.fingerprint}) holds nothing: {scope.refusal}"
    return alert_fire(receiver=receiver, alert=alert, scope=scope, now=now)


def delivery_handle(
    *,
    receiver: Receiver,
    body: bytes,
    headers: Mapping[str, str],
    declared_size: int | None = None,
    now: datetime | None = None,
) -> Answer:
    """Check, read and act on one delivery to `receiver`; every delivery is recorded."""
    now = now or timezone.now()
    size = declared_size if declared_size is not None else len(body)
    limit = f"{BODY_LIMIT // (1024 * 1024)} MiB"
    try:
        if not receiver.enabled:
            raise Refused(status=403, code="receiver_disabled", message="This receiver is disabled.")
        if size > BODY_LIMIT or len(body) > BODY_LIMIT:
            raise Refused(status=413, code="too_large", message=f"The body is larger than {limit}.")
        delivery_verify(receiver=receiver, body=body, headers=headers, now=now)
        try:
            parsed = PARSERS[ReceiverKind(receiver.kind)](body)
        except PayloadInvalid as invalid:
            sender = receiver.get_kind_display()
            raise Refused(
                status=422,
                code="payload_invalid",
                message=f"Not a {sender} body: {invalid}",
                field=invalid.field,
            ) from None
        _occurred_check(parsed, now)
    except Refused as refused:
        return _refusal(receiver, refused, size=size)
    delivery_id = _clean(parsed.delivery_id or headers.get("webhook-id", ""))
    try:
        with transaction.atomic():
            if delivery_id:
                try:
                    with transaction.atomic():
                        SeenDelivery.objects.create(receiver=receiver, delivery_id=delivery_id, seen_at=now)
                except IntegrityError:
                    raise Refused(
                        status=409, code="replayed", message=f"Delivery {delivery_id} was taken before."
                    ) from None
            if parsed.ignored:
                actions = [f"{parsed.ignored}: nothing to do"]
            elif receiver.dry_run:
                actions = [_dry_run_action(receiver, alert) for alert in parsed.alerts]
            else:
                actions = [_act(receiver, alert, now) for alert in parsed.alerts]
            _record(
                receiver,
                status=200,
                code="taken",
                body_size=size,
                delivery_id=delivery_id,
                dry_run=receiver.dry_run,
                actions=actions,
            )
    except Refused as refused:
        return _refusal(receiver, refused, size=size, delivery_id=delivery_id)
    return Answer(200, {"code": "taken", "dry_run": receiver.dry_run, "actions": actions})


def deliveries_forget(
    *, now: datetime | None = None, keep: int = DELIVERIES_KEPT_PER_RECEIVER
) -> tuple[int, int]:
    """Forget delivery ids past `SEEN_KEEP`, and deliveries past `DELIVERIES_KEEP` or beyond the last
    `keep` of their receiver."""
    now = now or timezone.now()
    seen, _ = SeenDelivery.objects.filter(seen_at__lt=now - SEEN_KEEP).delete()
    old, _ = Delivery.objects.filter(received_at__lt=now - DELIVERIES_KEEP).delete()
    for receiver_id in Receiver.objects.values_list("pk", flat=True):
        mine = Delivery.objects.filter(receiver_id=receiver_id)
        last_kept = mine.order_by("-id").values_list("id", flat=True)[keep - 1 : keep].first()
        if last_kept is not None:
            extra, _ = mine.filter(id__lt=last_kept).delete()
            old += extra
    return seen, old
