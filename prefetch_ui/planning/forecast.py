"""What a job's scheduled plans will do from now on: when its last URL goes out, and how many URLs
reach the origin in each minute. Pure (no Django, no I/O), on aware datetimes.

The model is ESA's as the simulator plays it (and as `plan_math.preview` does for a batch being
built): a plan fires `slice_len` URLs at each batch time inside its window, every `interval`
seconds, and all plans of a job draw from the job's one list of remaining URLs until it runs out.

Plans are counted, not stepped through: a plan's batch times form an arithmetic sequence, so "how
many batches before t" is one division. That keeps a forecast of 1-second plans over a week cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
# Bisection on time stops when the answer is known to this many seconds; the batch times are then
# looked at one by one.
_BISECTION_PRECISION = 1e-3


@dataclass(frozen=True, slots=True)
class ScheduledPlan:
    """A plan that will still fire: waiting, or running (then its batches keep the phase of its start)."""

    start: datetime
    end: datetime
    interval: int
    slice_len: int
    running: bool = False


def next_batch_at(plan: ScheduledPlan, now: datetime) -> datetime | None:
    """When the plan fires next, or None when its window has no batch time left.

    A waiting plan fires at its start (at once if that has passed: ESA runs it then). A running plan
    fires every `interval` from its start; ESA does not publish the phase of a plan started late,
    so a batch time of the start's phase is the best estimate (off by less than one interval).
    """
    if plan.interval <= 0 or plan.slice_len <= 0:
        return None
    if plan.running and now > plan.start:
        elapsed = (now - plan.start).total_seconds()
        first = plan.start + timedelta(seconds=math.ceil(elapsed / plan.interval - _EPSILON) * plan.interval)
    else:
        first = max(plan.start, now)
    return first if first <= plan.end else None


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


def _submitted_by(sequences: Sequence[_Sequence], moment: float) -> int:
    return sum(sequence.size * sequence.fired_by(moment) for sequence in sequences)


def _last_batch(sequences: Sequence[_Sequence], remaining: int) -> float | None:
    """When the job's remaining URLs run out (a batch time, seconds from now); None if they never do.

    A bisection on time (each step counts every plan's batches once), then the batch times just
    after the last moment found short: linear in the plans, whatever their number.
    """
    if sum(sequence.size * sequence.count for sequence in sequences) < remaining:
        return None
    short = min(sequence.first for sequence in sequences) - 1.0  # nothing fired yet
    enough = max(sequence.time_of(sequence.count - 1) for sequence in sequences)
    while enough - short > _BISECTION_PRECISION:
        middle = (short + enough) / 2
        if _submitted_by(sequences, middle) >= remaining:
            enough = middle
        else:
            short = middle
    # The answer is a batch time in (short, enough]: the first of those by which enough has gone out.
    candidates = sorted(
        sequence.time_of(fired)
        for sequence in sequences
        if (fired := sequence.fired_by(short)) < sequence.count
    )
    return next(moment for moment in candidates if _submitted_by(sequences, moment) >= remaining)


@dataclass(frozen=True, slots=True)
class JobOutlook:
    """Where a job's remaining URLs will go: when the last is submitted, or how many no plan will."""

    remaining: int
    finishes_at: datetime | None  # when the last remaining URL goes out; None if they never all do
    unscheduled: int  # remaining URLs that no plan will submit

    @property
    def will_finish(self) -> bool:
        return self.unscheduled == 0


def job_outlook(*, remaining_urls: int, plans: Sequence[ScheduledPlan], now: datetime) -> JobOutlook:
    """When the job's scheduled plans will have submitted its remaining URLs.

    `finishes_at` is None when nothing remains (the job is done) or when the plans' windows close
    first; then `unscheduled` says how many URLs are left without a plan.
    """
    if remaining_urls <= 0:
        return JobOutlook(remaining=0, finishes_at=None, unscheduled=0)
    sequences = _sequences(plans, now)
    last = _last_batch(sequences, remaining_urls)
    if last is None:
        capacity = sum(sequence.size * sequence.count for sequence in sequences)
        return JobOutlook(remaining=remaining_urls, finishes_at=None, unscheduled=remaining_urls - capacity)
    return JobOutlook(remaining=remaining_urls, finishes_at=now + timedelta(seconds=last), unscheduled=0)


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
    last = _last_batch(sequences, remaining_urls)
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
