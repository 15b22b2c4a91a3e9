"""What a job's scheduled plans will do from now on: when its last URL goes out, and how many URLs
reach the origin in each minute. Pure (no Django, no I/O), on aware datetimes.

How the job's URLs are shared between its plans, and when the last goes, is `url_shares`, the
model every page reads. It is ESA's as the simulator plays it: a plan fires `slice_len` URLs at
each batch time inside its window, every `interval` seconds, and all plans of a job draw from the
job's one list of remaining URLs until it runs out.

Plans are counted, not stepped through: a plan's batch times form an arithmetic sequence, so "how
many batches before t" is one division. That keeps a forecast of 1-second plans over a week cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .url_shares import UrlShares, first_batch_at, url_shares

__all__ = [
    "JobOutlook",
    "LoadSeries",
    "ScheduledPlan",
    "batch_count",
    "job_load",
    "job_outlook",
    "next_batch_at",
]

# Float seconds: a batch time computed as `first + k * interval` may land a hair off an exact
# boundary; this much is still "at" it.
_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class ScheduledPlan:
    """A plan that will still fire: waiting, or running (then its batches keep the phase of its start)."""

    start: datetime
    end: datetime
    interval: int
    slice_len: int
    running: bool = False


def next_batch_at(plan: ScheduledPlan, now: datetime) -> datetime | None:
    """When the plan fires next, or None when its window has no batch time left (`first_batch_at`)."""
    return first_batch_at(plan, now)


def batch_count(*, first: datetime, end: datetime, interval: int) -> int:
    """Batches a plan fires from `first` to `end` (both included), 0 when `first` is after `end`.

    Public so that other planning (the resume's ramp) counts a window's batches exactly as the
    forecast does, tolerance included, and their figures never disagree by one batch.
    """
    if first > end:
        return 0
    return math.floor((end - first).total_seconds() / interval + _EPSILON) + 1


@dataclass(frozen=True, slots=True)
class _Sequence:
    """A plan's remaining batch times as numbers: `first + k * interval` for k < count (seconds from now)."""

    first: float
    interval: int
    count: int
    size: int

    def fired_by(self, moment: float) -> int:
        """Batches at or before `moment`."""
        if moment < self.first - _EPSILON:
            return 0
        return min(self.count, math.floor((moment - self.first) / self.interval + _EPSILON) + 1)

    def fired_before(self, moment: float) -> int:
        """Batches strictly before `moment`."""
        if moment <= self.first + _EPSILON:
            return 0
        return min(self.count, math.ceil((moment - self.first) / self.interval - _EPSILON))

    def time_of(self, index: int) -> float:
        return self.first + index * self.interval


def _sequences(plans: Sequence[ScheduledPlan], now: datetime) -> list[_Sequence]:
    sequences = []
    for plan in plans:
        first = next_batch_at(plan, now)
        if first is None:
            continue
        count = batch_count(first=first, end=plan.end, interval=plan.interval)
        sequences.append(_Sequence((first - now).total_seconds(), plan.interval, count, plan.slice_len))
    return sequences


@dataclass(frozen=True, slots=True)
class JobOutlook:
    """Where a job's remaining URLs will go: when the last is submitted, or how many no plan will."""

    remaining: int
    finishes_at: datetime | None  # when the last remaining URL goes out; None if they never all do
    unscheduled: int  # remaining URLs that no plan will submit
    # Each plan's share, in the order the plans were given (`url_shares`).
    shares: UrlShares | None = None

    @property
    def will_finish(self) -> bool:
        return self.unscheduled == 0


def job_outlook(*, remaining_urls: int, plans: Sequence[ScheduledPlan], now: datetime) -> JobOutlook:
    """When the job's scheduled plans will have submitted its remaining URLs.

    `finishes_at` is None when nothing remains (the job is done) or when the plans' windows close
    first; then `unscheduled` says how many URLs are left without a plan.
    """
    shares = url_shares(remaining_urls=remaining_urls, plans=plans, now=now)
    return JobOutlook(
        remaining=shares.remaining, finishes_at=shares.sent_by, unscheduled=shares.no_plan, shares=shares
    )


@dataclass(slots=True)
class LoadSeries:
    """URLs submitted in each minute from `start` (a whole minute): `urls[i]` in minute i."""

    start: datetime
    urls: list[int] = field(default_factory=list)

    def add(self, other: LoadSeries) -> None:
        """Add `other` (same start) minute by minute."""
        if other.start != self.start:
            raise ValueError("load series of different starts")
        if len(other.urls) > len(self.urls):
            self.urls.extend([0] * (len(other.urls) - len(self.urls)))
        for index, urls in enumerate(other.urls):
            self.urls[index] += urls

    @property
    def total(self) -> int:
        return sum(self.urls)

    @property
    def peak(self) -> tuple[datetime, int] | None:
        """The busiest minute (the first of equals) and its URLs; None when nothing is sent."""
        if not self.urls or max(self.urls) == 0:
            return None
        urls = max(self.urls)
        return self.start + timedelta(minutes=self.urls.index(urls)), urls


def job_load(
    *, remaining_urls: int, plans: Sequence[ScheduledPlan], now: datetime, until: datetime
) -> LoadSeries:
    """URLs per minute that the job's plans will send to the origin from now until `until`.

    Minutes are whole minutes: the series starts at the minute `now` is in (the batches before
    `now` in that minute are not counted: they are past).
    """
    start = now.replace(second=0, microsecond=0)
    minutes = max(0, math.ceil((until - start).total_seconds() / 60))
    series = LoadSeries(start, [0] * minutes)
    if remaining_urls <= 0 or not minutes:
        return series
    sequences = _sequences(plans, now)
    # When the last URL goes is the one model's answer (`url_shares`), as every page says it.
    sent_by = url_shares(remaining_urls=remaining_urls, plans=plans, now=now).sent_by
    last = None if sent_by is None else (sent_by - now).total_seconds()
    offset = (start - now).total_seconds()  # the series' minute 0 begins this far from now (<= 0)
    horizon = offset + 60 * minutes
    stop = horizon if last is None else min(horizon, last)
    for sequence in sequences:
        # Whole batches strictly before `stop`: at or after the last batch time, see below.
        fired = sequence.fired_before(stop)
        if sequence.interval >= 60:
            # At most one batch a minute: walk the batches.
            for index in range(sequence.fired_before(offset), fired):
                series.urls[_minute(sequence.time_of(index), offset)] += sequence.size
            continue
        # Several batches a minute: walk the minutes, counting each minute's batches.
        first_minute = max(0, _minute(sequence.first, offset))
        last_minute = min(minutes - 1, _minute(sequence.time_of(max(0, fired - 1)), offset))
        for minute in range(first_minute, last_minute + 1):
            begin = offset + 60 * minute
            count = sequence.fired_before(min(begin + 60, stop)) - sequence.fired_before(begin)
            series.urls[minute] += count * sequence.size
    if last is not None and last < horizon:
        # The batch (or simultaneous batches) at the last time take whatever is left, no more.
        before = sum(sequence.size * sequence.fired_before(last) for sequence in sequences)
        series.urls[_minute(last, offset)] += remaining_urls - before
    return series


def _minute(moment: float, offset: float) -> int:
    """The minute of the series a batch time falls in; one on a minute's first instant belongs to it.

    The tolerance matters: times are seconds from a `now` with microseconds, so a batch on a whole
    minute can come out a hair before it (59.99999999999 s) and would land in the minute before.
    """
    return math.floor((moment - offset + _EPSILON) / 60)
