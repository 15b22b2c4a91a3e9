"""The arithmetic of a batch of plans: what each will submit and when, and plans made to measure.

Pure (no Django, no I/O), on aware UTC datetimes. How a job's URLs are shared between its plans is
`url_shares`, the one model every page reads; this module adds what only a batch being built needs
(warnings, generated plans).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from .url_shares import UrlShares, url_shares

__all__ = [
    "BatchPreview",
    "GeneratorError",
    "PlanDraft",
    "RowPreview",
    "Window",
    "finish_by",
    "preview",
    "spread",
    "unscheduled_urls",
]


@dataclass(frozen=True, slots=True)
class PlanDraft:
    """A plan as typed or generated, before ESA has it."""

    start: datetime
    end: datetime
    interval: int
    slice_len: int
    # A plan of the job's already running in ESA: its batches keep the phase of its start.
    running: bool = False

    @property
    def batch_times(self) -> int:
        """How many batches fit in the window (the first at `start`)."""
        if self.end < self.start or self.interval <= 0:
            return 0
        return int((self.end - self.start).total_seconds() // self.interval) + 1


@dataclass(frozen=True, slots=True)
class Window:
    """Another plan's window on the same site, to warn about overlaps."""

    start: datetime
    end: datetime
    label: str


@dataclass(slots=True)
class RowPreview:
    urls: int = 0
    batches: int = 0
    first_batch: datetime | None = None
    last_batch: datetime | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def time_needed(self) -> timedelta:
        if self.first_batch is None or self.last_batch is None:
            return timedelta(0)
        return self.last_batch - self.first_batch


@dataclass(slots=True)
class BatchPreview:
    rows: list[RowPreview]
    remaining_urls: int
    submitted: int
    finishes_at: datetime | None
    warnings: list[str] = field(default_factory=list)
    # What the job's plans already in ESA (waiting or running) take from the same list.
    scheduled_urls: int = 0
    # The job's URLs shared between the batch's rows and its plans (`url_shares`): what the job page
    # will say of the same plans once they exist.
    shares: UrlShares | None = None

    @property
    def left_over(self) -> int:
        """The remaining URLs that neither the job's plans nor this batch will submit."""
        return self.remaining_urls - self.scheduled_urls - self.submitted


EN_DASH = "\u2013"  # between the two ends of a span, as the pages write it


def _span(start: datetime, end: datetime, zone: tzinfo) -> str:
    """From `start` to `end` in `zone`, by the clock, with the dates when they are not one day."""
    start, end = start.astimezone(zone), end.astimezone(zone)
    if start.date() == end.date():
        return f"{start:%H:%M}{EN_DASH}{end:%H:%M}"
    return f"{start:%m-%d %H:%M}{EN_DASH}{end:%m-%d %H:%M}"


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def preview(
    drafts: Sequence[PlanDraft],
    *,
    remaining_urls: int,
    now: datetime,
    others: Sequence[Window] = (),
    labels: Sequence[str] = (),
    scheduled: Sequence[PlanDraft] = (),
    zone: tzinfo = UTC,
) -> BatchPreview:
    """What the batch will do: per row the URLs it submits, its batches and their times, warnings.

    Overlaps are one line a row for the batch's other rows, and one for the site's plans (named
    when it is one, counted with the span they share with the row, in `zone`, when more).

    `scheduled` are the job's plans already in ESA that will still fire: they draw from the same
    list of remaining URLs, in time order with the batch's rows, so they are played out too. The
    sharing is `url_shares`', the model the job page and the overview read.
    """
    labels = list(labels) or [f"row {index + 1}" for index in range(len(drafts))]
    shares = url_shares(remaining_urls=remaining_urls, plans=[*drafts, *scheduled], now=now)
    rows = [
        RowPreview(
            urls=share.urls, batches=share.batches, first_batch=share.first_batch, last_batch=share.last_batch
        )
        for share in shares.plans[: len(drafts)]
    ]
    left = shares.no_plan
    for index, (draft, row, share) in enumerate(zip(drafts, rows, shares.plans, strict=False)):
        if draft.start < now:
            row.warnings.append(f"Starts {_duration(now - draft.start)} in the past: ESA runs it at once.")
        if row.urls == 0 and remaining_urls > 0:
            row.warnings.append("Submits nothing: the job's URLs run out before it starts.")
        elif share.window_too_short:
            # It used every batch time its window has, and URLs are still waiting after it.
            row.warnings.append(
                f"Cannot finish its share before its end time: its window fits {row.batches} batches "
                f"({row.batches * draft.slice_len} URLs)."
            )
        in_batch = [
            labels[other_index]
            for other_index, other in enumerate(drafts)
            if other_index != index and draft.start < other.end and other.start < draft.end
        ]
        if in_batch:
            row.warnings.append(f"Overlaps {', '.join(in_batch)} of this batch.")
        on_site = [window for window in others if draft.start < window.end and window.start < draft.end]
        if len(on_site) == 1:
            row.warnings.append(f"Overlaps {on_site[0].label} on this site.")
        elif on_site:
            shared_from = min(max(draft.start, window.start) for window in on_site)
            shared_to = max(min(draft.end, window.end) for window in on_site)
            row.warnings.append(
                f"Overlaps {len(on_site)} plans of this site, {_span(shared_from, shared_to, zone)}."
            )
    scheduled_urls = sum(share.urls for share in shares.plans[len(drafts) :])
    submitted = sum(row.urls for row in rows)
    ends = [row.last_batch for row in rows if row.last_batch is not None]
    batch = BatchPreview(
        rows=rows,
        remaining_urls=remaining_urls,
        submitted=submitted,
        finishes_at=max(ends) if ends else None,
        scheduled_urls=scheduled_urls,
        shares=shares,
    )
    if left > 0 and drafts:
        # In the words every page uses for it (`reviews/_estimate.html`).
        batch.warnings.append(
            f"Will not finish: {left} URL{'s' if left != 1 else ''} {'have' if left != 1 else 'has'} no plan."
        )
    return batch


def unscheduled_urls(*, remaining_urls: int, scheduled: Sequence[PlanDraft], now: datetime) -> int:
    """The remaining URLs that no plan in `scheduled` will submit: what is left to plan for."""
    return preview((), remaining_urls=remaining_urls, now=now, scheduled=scheduled).left_over


class GeneratorError(ValueError):
    """The plans asked for cannot be made; the message says why, in the operator's terms."""


def spread(
    *, remaining_urls: int, start: datetime, end: datetime, plans: int, interval: int, max_slice_len: int
) -> list[PlanDraft]:
    """`plans` back-to-back plans over [start, end] that together submit every remaining URL."""
    if remaining_urls <= 0:
        raise GeneratorError("This job has no URLs left to prefetch.")
    if plans < 1:
        raise GeneratorError("Ask for at least one plan.")
    if interval < 1:
        raise GeneratorError("The interval must be at least 1 second.")
    if end <= start:
        raise GeneratorError("The window's end must be after its start.")
    part = (end - start) / plans
    if part.total_seconds() < 1:
        raise GeneratorError(f"{plans} plans do not fit in a window this short.")
    share = math.ceil(remaining_urls / plans)
    drafts: list[PlanDraft] = []
    for index in range(plans):
        part_start = start + part * index
        # Back to back, without sharing an instant: each ends a second before the next starts.
        part_end = end if index == plans - 1 else start + part * (index + 1) - timedelta(seconds=1)
        draft = PlanDraft(part_start, part_end, interval, 1)
        slice_len = math.ceil(share / max(1, draft.batch_times))
        if slice_len > max_slice_len:
            raise GeneratorError(
                f"That needs batches of {slice_len} URLs, more than the maximum of {max_slice_len}: "
                "use more plans, a longer window or a shorter interval."
            )
        drafts.append(PlanDraft(part_start, part_end, interval, slice_len))
    return drafts


def finish_by(
    *,
    remaining_urls: int,
    start: datetime,
    deadline: datetime,
    max_urls_per_minute: int,
    interval: int,
    max_slice_len: int,
) -> list[PlanDraft]:
    """One plan from `start` that submits every remaining URL by `deadline`, within a rate limit."""
    if remaining_urls <= 0:
        raise GeneratorError("This job has no URLs left to prefetch.")
    if deadline <= start:
        raise GeneratorError("The deadline must be after the start.")
    if interval < 1 or max_urls_per_minute < 1:
        raise GeneratorError("The interval and the rate must be at least 1.")
    slice_len = min(max_slice_len, max_urls_per_minute * interval // 60)
    if slice_len < 1:
        raise GeneratorError(
            f"At {max_urls_per_minute} URLs a minute, a batch every {interval} s would hold less than one "
            f"URL: use an interval of at least {math.ceil(60 / max_urls_per_minute)} s."
        )
    batches = math.ceil(remaining_urls / slice_len)
    needed = timedelta(seconds=(batches - 1) * interval)
    if start + needed > deadline:
        rate = slice_len * 60 / interval
        raise GeneratorError(
            f"At {rate:g} URLs a minute, {remaining_urls} URLs take {_duration(needed)}: that ends "
            f"{_duration(start + needed - deadline)} after the deadline. Start earlier, allow a higher rate "
            "or move the deadline."
        )
    return [PlanDraft(start, deadline, interval, slice_len)]
