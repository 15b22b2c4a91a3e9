"""The words of a notification: one envelope per event (a webhook's body as it is), and the text a
chat robot or an e-mail makes of it. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from .models import Event


def iso_utc(moment: datetime | None) -> str | None:
    """A payload's time: ISO 8601 in UTC with a `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def event_envelope(event: Event) -> dict[str, Any]:
    """What every channel is sent for `event`: Standard Webhooks' recommended shape, `type`,
    `timestamp` (when it happened, ISO 8601 UTC) and `data` (the facts; `data.url` the page,
    absolute when PREFETCH_PUBLIC_URL is set)."""
    data = dict(event.data)
    data["title"] = event.title
    data["event_id"] = event.pk
    path = data.get("path")
    if path:
        data["url"] = f"{settings.PREFETCH_PUBLIC_URL.rstrip('/')}{path}"
    return {
        "type": event.kind,
        "timestamp": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }


# The facts a message lists under its title, in this order, with these words.
_FACT_LABELS = (
    ("site", "Site"),
    ("scope", "Scope"),
    ("job", "Job"),
    ("plan", "Plan"),
    ("reason", "Reason"),
    ("by", "By"),
    ("failed_steps", "Failed steps"),
    ("unscheduled_urls", "URLs with no plan"),
    ("finishes_at", "Finishes at"),
    ("deadline", "Deadline"),
    ("error_code", "ESA code"),
    ("error_message", "ESA message"),
    ("request_id", "ESA RequestId"),
    ("runs_out_at_local", "Runs out at"),
    ("refused_urls", "URLs that will be refused"),
    ("quota", "Quota (URLs a day)"),
    ("used", "Used today"),
    ("left", "Left today"),
    ("renews_at_local", "Renews at"),
    ("paused_since_local", "Paused since"),
    ("queue", "Queue"),
    ("last_success", "Last successful sync"),
    ("sync_error", "Last sync error"),
)


def message_subject(payload: dict[str, Any]) -> str:
    title = str(payload.get("data", {}).get("title", payload.get("type", "")))
    return f"[prefetch_ui] {title}"[:200]


def message_text(payload: dict[str, Any]) -> str:
    """The message for a person: the title, the facts, the page's address."""
    data: dict[str, Any] = payload.get("data", {})
    lines = [message_subject(payload)]
    for name, label in _FACT_LABELS:
        value = data.get(name)
        if value not in (None, "", []):
            lines.append(f"{label}: {value}")
    if data.get("url"):
        lines.append(str(data["url"]))
    return "\n".join(lines)
