"""How a job's remaining URLs are shared between its plans: the one model behind every estimate.

Which URLs each plan will submit, when each plan's last batch goes, whether it gets through what
falls to it before its end time, when the job's last URL goes, and how many URLs no plan will send.
The builder's preview (`plan_math.preview`), the job page, the overview (`forecast.job_outlook`) and
the timeline's load (`forecast.job_load`) all read it, so they cannot disagree.

ESA as the simulator plays it: a plan fires `slice_len` URLs at each batch time inside its window,
every `interval` seconds, and all plans of a job draw, in time order (at the same instant, in the
order given), from the job's one list of remaining URLs until it runs out. A waiting plan fires
first at its start, or at once when that has passed; a running plan keeps the phase of its start.

Pure (no Django, no I/O), on aware datetimes. Times are counted in whole microseconds from `now`,
so every comparison is exact; plans are counted, not stepped through (a plan's batch times form an
arithmetic sequence, so "how many batches by t" is one division), which keeps a week of 1-second
plans cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

__all__ = [
    "BatchTimes",
    "PlanShare",
    "Scheduled",
    "UrlShares",
    "batch_times",
    "first_batch_at",
    "micros",
    "url_shares",
]

_SECOND = 1_000_000  # microseconds


class Scheduled(Protocol):
    """A plan as the model takes it: a typed row, a `PlanDraft`, a `ScheduledPlan`."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def interval(self) -> int: ...
    @property
    def slice_len(self) -> int: ...
    @property
    def running(self) -> bool: ...


def first_batch_at(plan: Scheduled, now: datetime) -> datetime | None:
    """When the plan fires next, or None when its window has no batch time left (or it sends nothing).

    A waiting plan fires at its start (at once if that has passed: ESA runs it then). A running plan
    fires every `interval` from its start; ESA does not publish the phase of a plan started late,
    so a batch time of the start's phase is the best estimate (off by less than one interval).
    """
    if plan.interval <= 0 or plan.slice_len <= 0:
        return None
    if plan.running and now > plan.start:
        step = plan.interval * _SECOND
        elapsed = micros(now - plan.start)
        first = plan.start + timedelta(microseconds=-(-elapsed // step) * step)
    else:
        first = max(plan.start, now)
    return first if first <= plan.end else None


@dataclass(frozen=True, slots=True)
class PlanShare:
    """What falls to one plan: its URLs, its batches, and when the first and last of them go."""

    urls: int
    batches: int
    first_batch: datetime | None
    last_batch: datetime | None
    end: datetime
    # Every batch time its window has left was used, and URLs were still left after its last one:
    # its window closes before the job's URLs run out.
    window_too_short: bool = False
    # It had batch times left, but the job's URLs ran out before its first one.
    sends_nothing: bool = False


@dataclass(frozen=True, slots=True)
class UrlShares:
    """A job's remaining URLs shared between its plans (`plans` in the order they were given)."""

    remaining: int
    plans: tuple[PlanShare, ...]
    no_plan: int  # remaining URLs that no plan will submit
    sent_by: datetime | None  # when the last remaining URL goes; None when some have no plan, or none remain

    @property
    def planned(self) -> int:
        """The remaining URLs that some plan will submit."""
        return self.remaining - self.no_plan

    @property
    def last_end(self) -> datetime | None:
        """When the last of the plans that will still send ends (what closes first when URLs have no plan)."""
        ends = [share.end for share in self.plans if share.batches or share.window_too_short]
        return max(ends) if ends else None


@dataclass(frozen=True, slots=True)
class BatchTimes:
    """A plan's batch times left: `first + k * step` for k < count, in microseconds from now (the
    quota forecast counts with them too)."""

    first: int
    step: int
    count: int
    size: int

    def by(self, moment: int) -> int:
        """Batches at or before `moment`."""
        if moment < self.first:
            return 0
        return min(self.count, (moment - self.first) // self.step + 1)

    def before(self, moment: int) -> int:
        """Batches strictly before `moment`."""
        if moment <= self.first:
            return 0
        return min(self.count, (moment - self.first - 1) // self.step + 1)

    def time_of(self, index: int) -> int:
        return self.first + index * self.step


def micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _SECOND + delta.microseconds


def batch_times(plan: Scheduled, now: datetime) -> BatchTimes | None:
    first = first_batch_at(plan, now)
    if first is None:
        return None
    step = plan.interval * _SECOND
    count = micros(plan.end - first) // step + 1
    return BatchTimes(micros(first - now), step, count, plan.slice_len)


def _last_batch(sequences: Sequence[BatchTimes], remaining: int) -> int | None:
    """The first batch time by which `remaining` URLs have gone out; None when the plans never send that many.

    A bisection on (whole-microsecond) time: each step counts every plan's batches once.
    """
    if sum(sequence.size * sequence.count for sequence in sequences) < remaining:
        return None
    short = min(sequence.first for sequence in sequences) - 1  # nothing fired yet
    enough = max(sequence.time_of(sequence.count - 1) for sequence in sequences)
    while enough - short > 1:
        middle = (short + enough) // 2
        if sum(sequence.size * sequence.by(middle) for sequence in sequences) >= remaining:
            enough = middle
        else:
            short = middle
    return enough  # what was sent only changes at batch times: this is one


def _tie_order(plan: Scheduled) -> tuple[datetime, datetime, int, int]:
    return (plan.start, plan.end, plan.interval, plan.slice_len)


def url_shares(*, remaining_urls: int, plans: Sequence[Scheduled], now: datetime) -> UrlShares:
    """Share `remaining_urls` between `plans` from `now`: what each submits, when, and what is left over."""
    remaining = max(0, remaining_urls)
    sequences = [batch_times(plan, now) for plan in plans]
    live = [sequence for sequence in sequences if sequence is not None]
    last = _last_batch(live, remaining) if remaining and live else None
    # Each plan's batches: all of them when the URLs never run out, else those before the last
    # batch time, and at that time those plans that fire then take what is left, in order.
    left_at_last = 0
    if last is not None:
        left_at_last = remaining - sum(sequence.size * sequence.before(last) for sequence in live)
    shares: dict[int, PlanShare] = {}
    # Plans that fire at one instant take turns in one order whatever order they were given in (the
    # builder gives its rows first, the job page its plans by start): the earlier start first.
    for index in sorted(range(len(plans)), key=lambda index: (_tie_order(plans[index]), index)):
        plan, sequence = plans[index], sequences[index]
        if sequence is None or not remaining:
            # No batch time left in its window (or none remains to send): it takes no turn.
            shares[index] = PlanShare(0, 0, None, None, plan.end)
            continue
        if last is None:
            batches, urls = sequence.count, sequence.count * sequence.size
        else:
            batches = sequence.before(last)
            urls = batches * sequence.size
            if sequence.by(last) > batches and left_at_last > 0:
                taken = min(sequence.size, left_at_last)
                left_at_last -= taken
                batches, urls = batches + 1, urls + taken
        first_dt = now + timedelta(microseconds=sequence.first)
        shares[index] = PlanShare(
            urls=urls,
            batches=batches,
            first_batch=first_dt if batches else None,
            last_batch=first_dt + timedelta(seconds=(batches - 1) * plan.interval) if batches else None,
            end=plan.end,
            window_too_short=last is None and batches == sequence.count,
            sends_nothing=not batches,
        )
    planned = sum(share.urls for share in shares.values())
    return UrlShares(
        remaining=remaining,
        plans=tuple(shares[index] for index in range(len(plans))),
        no_plan=remaining - planned,
        sent_by=None if last is None else now + timedelta(microseconds=last),
    )
