"""Deliveries as each sender makes them: its documented payload (tests/alerts/payloads/), signed or
authenticated as it signs, with the fields a real delivery would carry now (a fresh event id, a
timestamp inside the window)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.test import Client
from django.urls import reverse
from standardwebhooks import Webhook

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict[str, Any]:
    """A copy of a sender's documented payload, e.g. "alertmanager_firing"."""
    return copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))


@dataclass(frozen=True, slots=True)
class Sent:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def alertmanager(document: dict[str, Any], *, token: str) -> Sent:
    """As Alertmanager's webhook_config with `http_config.authorization.credentials: <token>`."""
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "Alertmanager/0.28.1"}
    return Sent(_json(document), headers)


def grafana(document: dict[str, Any], *, token: str, secret: str = "", timestamp: int | None = None) -> Sent:
    """As a Grafana webhook contact point: its Authorization header, and with an HMAC secret the
    hex HMAC-SHA256 of the body (of "<timestamp>:<body>" with a timestamp header)."""
    body = _json(document)
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "Grafana"}
    if secret:
        message = body if timestamp is None else f"{timestamp}:".encode() + body
        headers["X-Grafana-Alerting-Signature"] = hmac.new(
            secret.encode(), message, hashlib.sha256
        ).hexdigest()
        if timestamp is not None:
            headers["X-Grafana-Alerting-Signature-Timestamp"] = str(timestamp)
    return Sent(body, headers)


def pagerduty(
    document: dict[str, Any],
    *,
    secrets: list[str],
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Sent:
    """As a PagerDuty v3 webhook subscription: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>]`, one per
    secret (two while PagerDuty rotates). The event gets a fresh id and happens now, as a real one."""
    document = copy.deepcopy(document)
    document["event"]["id"] = event_id or str(uuid.uuid4())
    occurred = occurred_at or datetime.now(UTC)
    document["event"]["occurred_at"] = occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = _json(document)
    signatures = [f"v1={hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}" for secret in secrets]
    headers = {
        "X-PagerDuty-Signature": ",".join(signatures),
        "X-Webhook-Id": str(uuid.uuid4()),
        "X-Webhook-Subscription": "PY1OOTG",
        "User-Agent": "PagerDuty-Webhook/V3.0",
    }
    return Sent(body, headers)


def standard(
    document: dict[str, Any], *, secret: str, msg_id: str | None = None, timestamp: float | None = None
) -> Sent:
    """As a Standard Webhooks sender: webhook-id, webhook-timestamp, webhook-signature (v1,<base64>)."""
    body = _json(document)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=when, data=body.decode())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
    }
    return Sent(body, headers)


def deliver(client: Client, slug: str, sent: Sent) -> Any:
    """POST a delivery to the receiver's address, as the sender would (no login, no CSRF token)."""
    return client.post(
        reverse("alert-hook", args=[slug]),
        data=sent.body,
        content_type="application/json",
        headers=sent.headers,
    )
