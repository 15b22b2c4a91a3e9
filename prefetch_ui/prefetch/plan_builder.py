"""The batch plan builder's form: rows of wall-clock times in a chosen zone, checked row by row.

The whole form is posted on every change (add, remove, duplicate, generate, preview), and the
rows are rendered again from what was posted, so nothing typed is ever lost.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from prefetch_ui.esa import PlanSpec

from .plan_math import PlanDraft
from .timezones import LocalTimeError, display_zone, parse_local_input, utc_to_local_input, zone_named

MAX_ROWS = 50
COMMON_ZONES = (
    "UTC",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
)
_ROW_ID = re.compile(r"^[a-z0-9]{1,12}$")


def new_row_id() -> str:
    return secrets.token_hex(4)


@dataclass(slots=True)
class BuilderRow:
    """One row as typed, its parsed plan when valid, and a message per field when not."""

    id: str
    start: str = ""
    end: str = ""
    interval: str = "60"
    slice_len: str = "10"
    errors: dict[str, str] = field(default_factory=dict)
    draft: PlanDraft | None = None
    esa_message: str = ""  # why ESA refused this row last time, when it comes back to be fixed

    def copy(self, new_id: str) -> BuilderRow:
        return BuilderRow(new_id, self.start, self.end, self.interval, self.slice_len)


@dataclass(slots=True)
class BuilderForm:
    zone_name: str
    rows: list[BuilderRow]
    form_token: str
    zone_error: str = ""

    @property
    def zone(self) -> ZoneInfo | None:
        return zone_named(self.zone_name)

    @property
    def zones(self) -> list[str]:
        default = display_zone().key
        names = [default, *(name for name in COMMON_ZONES if name != default)]
        if self.zone_name and self.zone_name not in names and self.zone is not None:
            names.append(self.zone_name)
        return names

    @property
    def valid(self) -> bool:
        return not self.zone_error and bool(self.rows) and all(row.draft is not None for row in self.rows)

    def specs(self) -> dict[str, PlanSpec]:
        return {
            row.id: PlanSpec(row.draft.start, row.draft.end, row.draft.interval, row.draft.slice_len)
            for row in self.rows
            if row.draft is not None
        }

    def to_local(self, moment: datetime) -> str:
        return utc_to_local_input(moment, self.zone or ZoneInfo("UTC"))


def blank_form(*, now: datetime) -> BuilderForm:
    """One row starting at the next quarter hour, an hour long, in the display zone."""
    form = BuilderForm(display_zone().key, [], secrets.token_hex(12))
    start = (now + timedelta(minutes=15)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 15)
    form.rows.append(
        BuilderRow(new_row_id(), form.to_local(start), form.to_local(start + timedelta(hours=1)))
    )
    return form


def _number(raw: str, *, label: str, ceiling: int) -> tuple[int | None, str]:
    text = raw.strip()
    if not text:
        return None, f"{label} is required."
    if not re.fullmatch(r"[+-]?\d{1,9}", text):
        return None, f"{label} must be a whole number."
    value = int(text)
    if value < 1:
        return None, f"{label} must be at least 1."
    if value > ceiling:
        return None, f"{label} must be at most {ceiling}."
    return value, ""


def _moment(raw: str, *, label: str, zone: ZoneInfo) -> tuple[datetime | None, str]:
    try:
        return parse_local_input(raw, zone, label=label), ""
    except LocalTimeError as error:
        return None, str(error)


def check_row(row: BuilderRow, zone: ZoneInfo | None) -> None:
    """Fill `row.errors` and, when there are none, `row.draft` (as ESA would check it, and more)."""
    row.errors.clear()
    row.draft = None
    interval, message = _number(row.interval, label="Interval", ceiling=settings.PREFETCH_MAX_INTERVAL)
    if message:
        row.errors["interval"] = message
    slice_len, message = _number(row.slice_len, label="Batch size", ceiling=settings.PREFETCH_MAX_SLICE_LEN)
    if message:
        row.errors["slice_len"] = message
    if zone is None:
        return
    start, message = _moment(row.start, label="Start", zone=zone)
    if message:
        row.errors["start"] = message
    end, message = _moment(row.end, label="End", zone=zone)
    if message:
        row.errors["end"] = message
    if start is not None and end is not None and end <= start:
        row.errors["end"] = "The end must be after the start."
    if not row.errors and start and end and interval and slice_len:
        row.draft = PlanDraft(start, end, interval, slice_len)


def parse_form(data: Mapping[str, str], row_ids: list[str]) -> BuilderForm:
    """The builder as posted; every row checked."""
    zone_name = data.get("zone", "").strip()[:64]
    token = data.get("form_token", "")
    form = BuilderForm(
        zone_name, [], token if re.fullmatch(r"[0-9a-f]{24}", token) else secrets.token_hex(12)
    )
    if form.zone is None:
        form.zone_error = (
            f"“{zone_name}” is not a time zone this server knows (for example Asia/Shanghai or UTC)."
        )
    seen: set[str] = set()
    for row_id in row_ids[:MAX_ROWS]:
        if not _ROW_ID.match(row_id) or row_id in seen:
            continue
        seen.add(row_id)
        row = BuilderRow(
            row_id,
            start=data.get(f"start-{row_id}", "")[:40],
            end=data.get(f"end-{row_id}", "")[:40],
            interval=data.get(f"interval-{row_id}", "")[:20],
            slice_len=data.get(f"slice_len-{row_id}", "")[:20],
            esa_message=data.get(f"esa_message-{row_id}", "")[:500],
        )
        check_row(row, form.zone)
        form.rows.append(row)
    return form
