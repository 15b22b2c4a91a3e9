"""Reading each sender's body into alerts: what fired or resolved, its fingerprint, name, labels, link.

Each sender's documented format, and nothing looser: a body that is not it is refused (422) with
what is wrong named, before anything is held. No Django imports.

- Alertmanager webhook, version "4": `alerts[]` with `status`, `labels`, `fingerprint`,
  `generatorURL`; the alert's name is its `alertname` label.
- Grafana alerting webhook, version "1": the same alert shape (plus `values`, `silenceURL`...).
- PagerDuty webhooks v3: one `event`; `incident.triggered` and `incident.reopened` fire,
  `incident.resolved` resolves, other event types are taken and do nothing. The fingerprint is the
  PagerDuty incident's id, its name the incident's title, its labels `service`, `urgency` and
  `priority`.
- Standard Webhooks: the envelope `{"type", "timestamp", "data"}` with type `alert.firing` or
  `alert.resolved` and `data` = `{"fingerprint", "name", "labels", "link"?, "summary"?}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FIRING = "firing"
RESOLVED = "resolved"
# Longest a fingerprint, name, label or link may be: they are stored (and PostgreSQL enforces lengths).
FINGERPRINT_MAX = 200
NAME_MAX = 255
LABEL_MAX = 255
LINK_MAX = 1000
LABELS_MAX = 64


class PayloadInvalid(ValueError):
    """The body is not the sender's format; the message says what is wrong, `field` where."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert of a delivery: it fires or it resolves."""

    status: str  # FIRING | RESOLVED
    fingerprint: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    link: str = ""
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a body says: its alerts, the sender's delivery id (if the body has one), and event
    types taken but ignored (PagerDuty's acknowledgements...)."""

    alerts: list[AlertEvent]
    delivery_id: str = ""
    occurred_at: str = ""
    ignored: str = ""


def _text(value: object, *, where: str, limit: int, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise PayloadInvalid(f"{where} must be a non-empty string.", field=where)
    if "\x00" in value:
        raise PayloadInvalid(f"{where} holds a NUL character.", field=where)
    if len(value) > limit:
        raise PayloadInvalid(f"{where} is longer than {limit} characters.", field=where)
    return value


def _labels(value: object, *, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PayloadInvalid(f"{where} must be an object of strings.", field=where)
    if len(value) > LABELS_MAX:
        raise PayloadInvalid(f"{where} has more than {LABELS_MAX} labels.", field=where)
    labels: dict[str, str] = {}
    for key, label in value.items():
        name = _text(key, where=f"{where} name", limit=LABEL_MAX)
        if not isinstance(label, str):
            raise PayloadInvalid(f"{where}.{name} must be a string.", field=f"{where}.{name}")
        labels[name] = _text(label, where=f"{where}.{name}", limit=LABEL_MAX, required=False)
    return labels


def _object(value: object, *, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadInvalid(f"{where} must be a JSON object.", field=where)
    return value


def body_json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadInvalid(f"The body is not JSON: {error}.") from None
    return _object(document, where="body")


def _prometheus_alerts(document: dict[str, Any], *, version: str, sender: str) -> Parsed:
    """Alertmanager's and Grafana's bodies: one shape, told apart by `version`."""
    if document.get("version") != version:
        found = document.get("version")
        raise PayloadInvalid(
            f'version must be "{version}" ({sender}\'s webhook); found {json.dumps(found)}.', field="version"
        )
    alerts = document.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadInvalid("alerts must be a non-empty list.", field="alerts")
    events = []
    for index, raw in enumerate(alerts):
        where = f"alerts[{index}]"
        alert = _object(raw, where=where)
        status = alert.get("status")
        if status not in (FIRING, RESOLVED):
            raise PayloadInvalid(f"{where}.status must be firing or resolved.", field=f"{where}.status")
        labels = _labels(alert.get("labels"), where=f"{where}.labels")
        annotations = alert.get("annotations") or {}
        summary = annotations.get("summary", "") if isinstance(annotations, dict) else ""
        events.append(
            AlertEvent(
                status=status,
                fingerprint=_text(
                    alert.get("fingerprint"), where=f"{where}.fingerprint", limit=FINGERPRINT_MAX
                ),
                name=_text(labels.get("alertname", ""), where=f"{where}.labels.alertname", limit=NAME_MAX),
                labels=labels,
                link=_text(
                    alert.get("generatorURL"), where=f"{where}.generatorURL", limit=LINK_MAX, required=False
                ),
                # Kept in the incident's reason: PostgreSQL refuses NUL in text, so it goes.
                summary=summary.replace("\x00", "")[:500] if isinstance(summary, str) else "",
            )
        )
    return Parsed(alerts=events)


def alertmanager_parse(body: bytes) -> Parsed:
    return _prometheus_alerts(body_json(body), version="4", sender="Alertmanager")


def grafana_parse(body: bytes) -> Parsed:
    return _prometheus_alerts(body_json(body), version="1", sender="Grafana")


PAGERDUTY_FIRING = ("incident.triggered", "incident.reopened")
PAGERDUTY_RESOLVED = ("incident.resolved",)


def pagerduty_parse(body: bytes) -> Parsed:
    event = _object(body_json(body).get("event"), where="event")
    event_id = _text(event.get("id"), where="event.id", limit=255)
    event_type = _text(event.get("event_type"), where="event.event_type", limit=100)
    occurred_at = _text(event.get("occurred_at"), where="event.occurred_at", limit=64)
    if event_type not in (*PAGERDUTY_FIRING, *PAGERDUTY_RESOLVED):
        return Parsed(alerts=[], delivery_id=event_id, occurred_at=occurred_at, ignored=event_type)
    data = _object(event.get("data"), where="event.data")
    if data.get("type") != "incident":
        raise PayloadInvalid('event.data.type must be "incident".', field="event.data.type")
    labels: dict[str, str] = {}
    service = data.get("service")
    if isinstance(service, dict) and isinstance(service.get("summary"), str):
        labels["service"] = _text(service["summary"], where="event.data.service.summary", limit=LABEL_MAX)
    if isinstance(data.get("urgency"), str):
        labels["urgency"] = _text(data["urgency"], where="event.data.urgency", limit=LABEL_MAX)
    priority = data.get("priority")
    if isinstance(priority, dict) and isinstance(priority.get("summary"), str):
        labels["priority"] = _text(priority["summary"], where="event.data.priority.summary", limit=LABEL_MAX)
    alert = AlertEvent(
        status=FIRING if event_type in PAGERDUTY_FIRING else RESOLVED,
        fingerprint=_text(data.get("id"), where="event.data.id", limit=FINGERPRINT_MAX),
        name=_text(data.get("title"), where="event.data.title", limit=NAME_MAX),
        labels=labels,
        link=_text(data.get("html_url"), where="event.data.html_url", limit=LINK_MAX, required=False),
    )
    return Parsed(alerts=[alert], delivery_id=event_id, occurred_at=occurred_at)


STANDARD_TYPES = {"alert.firing": FIRING, "alert.resolved": RESOLVED}


def standard_parse(body: bytes) -> Parsed:
    document = body_json(body)
    kind = document.get("type")
    if kind not in STANDARD_TYPES:
        raise PayloadInvalid('type must be "alert.firing" or "alert.resolved".', field="type")
    _text(document.get("timestamp"), where="timestamp", limit=64)
    data = _object(document.get("data"), where="data")
    summary = data.get("summary")
    alert = AlertEvent(
        status=STANDARD_TYPES[kind],
        fingerprint=_text(data.get("fingerprint"), where="data.fingerprint", limit=FINGERPRINT_MAX),
        name=_text(data.get("name"), where="data.name", limit=NAME_MAX),
        labels=_labels(data.get("labels", {}), where="data.labels"),
        link=_text(data.get("link"), where="data.link", limit=LINK_MAX, required=False),
        summary=_text(summary, where="data.summary", limit=500, required=False) if summary else "",
    )
    return Parsed(alerts=[alert])
