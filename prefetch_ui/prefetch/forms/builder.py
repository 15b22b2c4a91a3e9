"""The batch plan builder: rows of wall-clock times in a chosen zone, posted whole on every change
(add, remove, duplicate, generate, switch zone) and rendered again from what was posted, so nothing
typed is ever lost; and the generator that makes rows to measure."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.exceptions import BadRequest

from prefetch_ui.esa import PlanSpec
from prefetch_ui.planning.local_time import (
    LocalTimeError,
    parse_local_input,
    past_start_error,
    utc_to_local_input,
    zone_named,
)
from prefetch_ui.planning.plan_math import GeneratorError, PlanDraft, finish_by, spread
from prefetch_ui.web.display_zone import display_zone, zone_choices

from .tokens import form_token_or_new, new_form_token, shown_in_zone

MAX_ROWS = 50
_ROW_ID = re.compile(r"^[a-z0-9]{1,12}$")
# The builder's inputs that hold times: moved together when the builder's zone changes.
_TIME_INPUTS = re.compile(r"^(start|end)-[a-z0-9]{1,12}$|^gen_(start|end|deadline)$")


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

    def check(self, zone: ZoneInfo | None, *, now: datetime | None = None) -> None:
        """Fill `errors` and, when there are none, `draft` (as ESA would check it, and more).

        With `now`, a start more than a minute ago is refused too (the rule `past_start_error`).
        """
        self.errors.clear()
        self.draft = None
        interval = self._number("interval", self.interval, "Interval", settings.PREFETCH_MAX_INTERVAL)
        slice_len = self._number("slice_len", self.slice_len, "Batch size", settings.PREFETCH_MAX_SLICE_LEN)
        if zone is None:
            return
        start, end = (
            self._moment("start", self.start, "Start", zone),
            self._moment("end", self.end, "End", zone),
        )
        if (
            start
            and now
            and (message := past_start_error(start, now=now, shown_as=shown_in_zone(start, zone)))
        ):
            self.errors["start"] = message
        if start is not None and end is not None and end <= start:
            self.errors["end"] = "The end must be after the start."
        if not self.errors and start and end and interval and slice_len:
            self.draft = PlanDraft(start, end, interval, slice_len)

    def _number(self, name: str, raw: str, label: str, ceiling: int) -> int | None:
        text = raw.strip()
        message = ""
        if not text:
            message = f"{label} is required."
        elif not re.fullmatch(r"[+-]?\d{1,9}", text):
            message = f"{label} must be a whole number."
        elif int(text) < 1:
            message = f"{label} must be at least 1."
        elif int(text) > ceiling:
            message = f"{label} must be at most {ceiling}."
        if message:
            self.errors[name] = message
            return None
        return int(text)

    def _moment(self, name: str, raw: str, label: str, zone: ZoneInfo) -> datetime | None:
        try:
            return parse_local_input(raw, zone, label=label)
        except LocalTimeError as error:
            self.errors[name] = str(error)
            return None


@dataclass(slots=True)
class BuilderForm:
    """The builder as typed: a zone for every time in it, the rows, and the form's token."""

    zone_name: str
    rows: list[BuilderRow]
    form_token: str
    zone_error: str = ""
    rows_error: str = ""  # about the batch as a whole: more rows than a batch or the job may take
    moved_from_zone: str = ""  # the zone the times were typed in, when the operator switched zones

    @property
    def zone(self) -> ZoneInfo | None:
        return zone_named(self.zone_name)

    @property
    def zones(self) -> list[str]:
        return zone_choices(self.zone_name)

    @property
    def valid(self) -> bool:
        return (
            not (self.zone_error or self.rows_error) and bool(self.rows) and all(r.draft for r in self.rows)
        )

    def specs(self) -> dict[str, PlanSpec]:
        return {
            row.id: PlanSpec(row.draft.start, row.draft.end, row.draft.interval, row.draft.slice_len)
            for row in self.rows
            if row.draft is not None
        }

    def to_local(self, moment: datetime) -> str:
        return utc_to_local_input(moment, self.zone or ZoneInfo("UTC"))

    def row_from_draft(self, draft: PlanDraft, *, esa_message: str = "") -> BuilderRow:
        """A new row showing `draft` in this builder's zone, checked."""
        row = BuilderRow(
            new_row_id(),
            self.to_local(draft.start),
            self.to_local(draft.end),
            str(draft.interval),
            str(draft.slice_len),
            esa_message=esa_message,
        )
        row.check(self.zone)
        return row

    def size_error(self, *, plans_on_job: int, adding: int = 0) -> str:
        """Why the batch (with `adding` more rows) is too large for a batch or for the job, or "".

        A batch too large is refused, never trimmed: what was typed stays for the operator to cut.
        """
        count, limit = len(self.rows) + adding, settings.PREFETCH_MAX_PLANS_PER_JOB
        if count > MAX_ROWS:
            return (
                f"A batch holds at most {MAX_ROWS} plans and this one would have {count}: remove "
                f"{count - MAX_ROWS}, or send them in another batch."
            )
        if plans_on_job + count > limit:
            room = max(0, limit - plans_on_job)
            return (
                f"This job has {plans_on_job} plans and ESA takes at most {limit} a job: there is room "
                f"for {room} more, and this batch would have {count}. Remove {count - room}, or delete "
                "finished plans first."
            )
        return ""

    @classmethod
    def blank(cls, *, now: datetime) -> BuilderForm:
        """One row starting at the next quarter hour, an hour long, in the display zone."""
        form = cls(display_zone().key, [], new_form_token())
        start = (now + timedelta(minutes=15)).replace(second=0, microsecond=0)
        start -= timedelta(minutes=start.minute % 15)
        form.rows.append(
            BuilderRow(new_row_id(), form.to_local(start), form.to_local(start + timedelta(hours=1)))
        )
        return form

    @classmethod
    def from_post(
        cls, data: Mapping[str, str], row_ids: list[str], *, now: datetime | None = None
    ) -> BuilderForm:
        """The builder as posted, every row checked; no row is ever dropped.

        A row id the builder never makes, or one listed twice, is refused (BadRequest): its row
        would otherwise be left out, or read once for two, without a word.
        """
        zone_name = data.get("zone", "").strip()[:64]
        form = cls(zone_name, [], form_token_or_new(data.get("form_token", "")))
        if form.zone is None:
            form.zone_error = (
                f"“{zone_name}” is not a time zone this server knows (for example Asia/Shanghai or UTC)."
            )
        elif data.get("rows_zone", zone_name) != zone_name and zone_named(data.get("rows_zone", "")):
            form.moved_from_zone = data["rows_zone"]
        seen: set[str] = set()
        for row_id in row_ids:
            if not _ROW_ID.fullmatch(row_id):
                raise BadRequest(
                    f"Row “{row_id[:40]}” is not a row this builder made: open Add plans again. "
                    "Nothing was sent."
                )
            if row_id in seen:
                raise BadRequest(f"Row “{row_id}” was sent twice: open Add plans again. Nothing was sent.")
            seen.add(row_id)
            row = BuilderRow(
                row_id,
                start=data.get(f"start-{row_id}", "")[:40],
                end=data.get(f"end-{row_id}", "")[:40],
                interval=data.get(f"interval-{row_id}", "")[:20],
                slice_len=data.get(f"slice_len-{row_id}", "")[:20],
                esa_message=data.get(f"esa_message-{row_id}", "")[:500],
            )
            row.check(form.zone, now=now)
            form.rows.append(row)
        return form


def times_moved_to_zone(data: Mapping[str, str]) -> dict[str, str]:
    """The builder's post with every time moved from the zone it was typed in (`rows_zone`) to the
    zone now chosen (`zone`): switching zones keeps the same instants, never the same clock times.

    A time that cannot be read in its old zone is kept as typed, to be reported where it stands.
    """
    moved = dict(data.items())
    old, new = zone_named(data.get("rows_zone", "")), zone_named(data.get("zone", ""))
    if old is None or new is None or old == new:
        return moved
    for name, text in data.items():
        if _TIME_INPUTS.match(name) and text.strip():
            with contextlib.suppress(LocalTimeError):
                moved[name] = utc_to_local_input(parse_local_input(text, old, label="Time"), new)
    return moved


class PlanGeneratorForm(forms.Form):
    """Plans made to measure for what the job has left: spread over a window, or done by a deadline."""

    gen_mode = forms.ChoiceField(
        choices=[
            ("spread", "Spread over a window in K plans"),
            ("finish_by", "Finish by a deadline within a rate"),
        ],
        initial="spread",
    )
    gen_start = forms.CharField(required=False)
    gen_end = forms.CharField(required=False)
    gen_plans = forms.CharField(required=False, initial="3")
    gen_deadline = forms.CharField(required=False)
    gen_rate = forms.CharField(required=False, initial="100")
    gen_interval = forms.CharField(required=False, initial="60")

    def __init__(self, *args: Any, zone: ZoneInfo | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone

    def drafts(self, *, urls: int) -> list[PlanDraft]:
        """The plans that submit `urls` as asked; GeneratorError says why they cannot be made."""
        if self.zone is None:
            raise GeneratorError("Choose a known time zone first.")
        if not self.is_valid():
            raise GeneratorError("Choose how to generate: spread over a window, or finish by a deadline.")
        interval = self._number("gen_interval", "The interval")
        if interval > settings.PREFETCH_MAX_INTERVAL:
            raise GeneratorError(f"The interval must be at most {settings.PREFETCH_MAX_INTERVAL} seconds.")
        start = self._moment("gen_start", "The start")
        if self.cleaned_data["gen_mode"] == "finish_by":
            return finish_by(
                remaining_urls=urls,
                start=start,
                deadline=self._moment("gen_deadline", "The deadline"),
                max_urls_per_minute=self._number("gen_rate", "The rate"),
                interval=interval,
                max_slice_len=settings.PREFETCH_MAX_SLICE_LEN,
            )
        plans = self._number("gen_plans", "The number of plans")
        if plans > MAX_ROWS:
            raise GeneratorError(f"Ask for at most {MAX_ROWS} plans: a batch holds no more.")
        return spread(
            remaining_urls=urls,
            start=start,
            end=self._moment("gen_end", "The end"),
            plans=plans,
            interval=interval,
            max_slice_len=settings.PREFETCH_MAX_SLICE_LEN,
        )

    def _number(self, name: str, label: str) -> int:
        text = str(self.cleaned_data.get(name) or "").strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise GeneratorError(f"{label} must be a whole number below 1,000,000,000.")
        return int(text)

    def _moment(self, name: str, label: str) -> datetime:
        assert self.zone is not None  # noqa: S101 - checked by `drafts` before any time is read
        try:
            return parse_local_input(str(self.cleaned_data.get(name) or ""), self.zone, label=label)
        except LocalTimeError as error:
            raise GeneratorError(str(error)) from None
