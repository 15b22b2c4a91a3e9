"""A resume's ramp: the load its plans would send to the origin, and staggered windows that keep it
under a cap of URLs a minute. Pure (no Django, no I/O), on aware datetimes.

Why: resuming a hold puts back every plan whose start passed during the hold, and ESA fires a
restarted plan's first batch at once, so the origin that was just protected takes a burst (1.4 times
its pre-hold peak in the minute after a resume, measured). Moving plans' windows
(UpdateScheduledPreloadExecution can) spreads that burst out.

The guarantee is on a bound, not on the forecast: in every whole wall-clock minute, the URLs the
plans could send if the plans of a job did not share its URLs (each plan alone can still send no
more than its job has left, so its batches past that are not counted). The real forecast (each
job's remaining URLs shared by its plans, `forecast.job_load`) is never more than that, so it stays
under the cap too; a bound is what lets plans be placed one at a time, since when a job's URLs run
out depends on all of its plans at once.

Plans are moved by whole minutes only, so a plan's count of batches in each wall-clock minute (its
profile) moves with it unchanged and is computed once. Counts are exact in whole microseconds; ESA
gives times in whole seconds, where they agree with the forecast's and the simulator's to the batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from prefetch_ui.planning.forecast import LoadSeries, ScheduledPlan, batch_count, job_load

__all__ = [
    "Ramp",
    "RampError",
    "ResumedPlan",
    "minimum_cap",
    "plan_minute_peak",
    "ramp_windows",
    "resume_load",
    "scheduled_peak",
]

_MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)
_MINUTE_US = 60_000_000
_SECOND_US = 1_000_000
# Minutes per block of the timeline's skip index (see `_Timeline`).
_BLOCK = 64


@dataclass(frozen=True, slots=True)
class ResumedPlan:
    """A plan a resume puts back, with the window it would get back "as it was"."""

    key: str  # the plan's ESA id
    job: str  # its job's ESA id: plans of one job share its remaining URLs
    # Its window as it was; a start that has passed means it fires at once and runs to `end`.
    start: datetime
    end: datetime
    interval: int
    slice_len: int


@dataclass(frozen=True, slots=True)
class Ramp:
    """Staggered windows for a resume, and the load they send."""

    windows: dict[str, tuple[datetime, datetime]]  # every plan's window under the ramp, unchanged ones too
    load: LoadSeries  # the forecast with the ramp's windows, from the minute of `now` past the last window
    last_start: datetime | None  # when the last delayed plan starts; None when no plan is delayed


class RampError(ValueError):
    """A cap no ramp can keep: one plan alone sends more in some minute. The message is for operators."""

    def __init__(self, *, minimum_cap: int, plan_key: str) -> None:
        self.minimum_cap = minimum_cap
        self.plan_key = plan_key
        super().__init__(
            f"the cap must be at least {minimum_cap} URLs a minute: "
            f"plan …{plan_key[-8:]} alone sends {minimum_cap} in a minute"
        )


def plan_minute_peak(*, interval: int, slice_len: int) -> int:
    """The most URLs one plan alone can send in one whole wall-clock minute, whatever its phase.

    A minute holds at most ceil(60 / interval) batch times: 2 for 45 s (at :10 and :55, say), 1 for
    60 s and more. Below that no ramp can go, since a plan cannot be slowed, only moved.
    """
    if interval <= 0 or slice_len <= 0:
        return 0
    return math.ceil(60 / interval) * slice_len


def minimum_cap(*, plans: Sequence[ResumedPlan]) -> int:
    """The least cap a ramp of these plans always accepts: the largest `plan_minute_peak` (0 for none).

    (`ramp_windows` only refuses a cap below the peak of a plan that still sends something, so it may
    accept less when the widest plan's window is over or its job done.)
    """
    return max(map(_minute_peak, plans), default=0)


def _minute_peak(plan: ResumedPlan) -> int:
    return plan_minute_peak(interval=plan.interval, slice_len=plan.slice_len)


def resume_load(
    *, plans: Sequence[ResumedPlan], remaining_urls: Mapping[str, int], now: datetime, until: datetime
) -> LoadSeries:
    """URLs a minute the plans send from `now` to `until` when put back as they are, summed over jobs.

    A start that has passed fires at once (at `now`), as ESA does for a restarted plan: that is the
    burst a ramp is for.
    """
    total = job_load(remaining_urls=0, plans=[], now=now, until=until)  # the right minutes, all zero
    for job, job_plans in _by_job(plans).items():
        scheduled = [ScheduledPlan(p.start, p.end, p.interval, p.slice_len) for p in job_plans]
        total.add(
            job_load(remaining_urls=_remaining(remaining_urls, job), plans=scheduled, now=now, until=until)
        )
    return total


def scheduled_peak(
    *, plans: Sequence[ResumedPlan], remaining_urls: Mapping[str, int], now: datetime, until: datetime
) -> int:
    """The busiest minute of `resume_load` (0 when nothing is sent).

    Called with the plans' original windows and the hold's time as `now`, this is the load the origin
    was taking before the hold: the figure a cap is usually chosen against.
    """
    peak = resume_load(plans=plans, remaining_urls=remaining_urls, now=now, until=until).peak
    return 0 if peak is None else peak[1]


def ramp_windows(
    *,
    plans: Sequence[ResumedPlan],
    remaining_urls: Mapping[str, int],
    cap: int,
    now: datetime,
    epoch: datetime,
) -> Ramp:
    """Windows for the plans such that no whole wall-clock minute can get more than `cap` URLs.

    `epoch` (>= now; the caller passes a whole minute a little after now, once the resume's ESA
    calls are made) is the earliest a plan may start: a plan started before then would fire at once
    whenever ESA gets the call, which nothing here can place. A plan whose start is before `epoch`
    starts at `epoch` with the length it had left ([epoch, epoch + (end - max(start, now))]); one
    starting later keeps its window. Then each is delayed by a whole number of minutes: placed
    greedily, in order of their start as it was (ties by key), at the least delay that keeps every
    minute's bound within `cap`. Plans of a job with no URLs left send nothing and are not delayed;
    a plan with no batch time left in its window keeps its window as it was.

    Raises RampError when one plan alone can send more than `cap` in a minute.
    """
    if epoch < now:
        raise ValueError("the epoch of a ramp cannot be before now")
    if len({plan.key for plan in plans}) != len(plans):
        raise ValueError("a plan appears twice in a ramp")
    order = sorted(plans, key=lambda plan: (plan.start, plan.key))
    base = epoch.replace(second=0, microsecond=0)  # minute 0 of the timeline
    placed: list[tuple[ResumedPlan, datetime, timedelta, _Profile | None]] = []
    for plan in order:
        first, length = max(plan.start, epoch), plan.end - max(plan.start, now)
        if length < timedelta(0) or plan.interval <= 0 or plan.slice_len <= 0:
            placed.append((plan, plan.start, plan.end - plan.start, None))  # sends nothing either way
            continue
        profile = None
        if (remaining := _remaining(remaining_urls, plan.job)) > 0:
            profile = _profile(
                first=first,
                length=length,
                interval=plan.interval,
                slice_len=plan.slice_len,
                remaining=remaining,
                base=base,
            )
        placed.append((plan, first, length, profile))

    # Every minute of a profile is within its plan's peak, so under this check every plan fits somewhere.
    sending = [plan for plan, _, _, profile in placed if profile is not None]
    widest = max(sending, key=_minute_peak, default=None)
    if widest is not None and _minute_peak(widest) > cap:
        raise RampError(minimum_cap=_minute_peak(widest), plan_key=widest.key)

    timeline = _Timeline(cap)
    windows: dict[str, tuple[datetime, datetime]] = {}
    last_start: datetime | None = None
    for plan, first, length, profile in placed:
        shift = 0 if profile is None else timeline.place(profile)
        start = first + shift * _MINUTE
        windows[plan.key] = (start, start + length)
        if shift and (last_start is None or start > last_start):
            last_start = start

    ramped = [
        ResumedPlan(plan.key, plan.job, *windows[plan.key], plan.interval, plan.slice_len) for plan in plans
    ]
    until = max([now, *(end for _, end in windows.values())]) + _MINUTE
    load = resume_load(plans=ramped, remaining_urls=remaining_urls, now=now, until=until)
    return Ramp(windows=windows, load=load, last_start=last_start)


@dataclass(frozen=True, slots=True)
class _Profile:
    """URLs a plan can send in each minute it sends any: `urls[i]` in timeline minute `first + offsets[i]`.

    For the search's jumps, each entry also knows where its run of consecutive minutes begins
    (`run_starts[i]`) and the fewest URLs from there to it (`run_least[i]`).
    """

    first: int
    offsets: list[int]
    urls: list[int]
    run_starts: list[int]
    run_least: list[int]


def _profile(
    *, first: datetime, length: timedelta, interval: int, slice_len: int, remaining: int, base: datetime
) -> _Profile:
    """The plan's batches per timeline minute, counted rather than listed (as the forecast does).

    Only its first ceil(remaining / slice_len) batches: by then the job has no URLs left, whatever
    its other plans did, so counting more would delay other plans for load that never comes.
    """
    count = min(
        batch_count(first=first, end=first + length, interval=interval), math.ceil(remaining / slice_len)
    )
    start_us = (first - base) // _MICROSECOND
    step_us = interval * _SECOND_US
    first_minute = start_us // _MINUTE_US
    offsets: list[int] = []
    urls: list[int] = []
    if interval >= 60:
        # At most one batch a minute: list the batches.
        for index in range(count):
            offsets.append((start_us + index * step_us) // _MINUTE_US - first_minute)
            urls.append(slice_len)
    else:
        # Batches are less than a minute apart, so every minute from the first batch's to the last's
        # has some; each minute's count is one division (batches before its end), less the last.
        last_minute = (start_us + (count - 1) * step_us) // _MINUTE_US
        fired = 0
        for minute in range(first_minute + 1, last_minute + 2):
            before_end = min(count, -((start_us - minute * _MINUTE_US) // step_us))
            urls.append((before_end - fired) * slice_len)
            fired = before_end
        offsets = list(range(len(urls)))
    run_starts: list[int] = []
    run_least: list[int] = []
    for index, (offset, minute_urls) in enumerate(zip(offsets, urls, strict=True)):
        if index and offset == offsets[index - 1] + 1:
            run_starts.append(run_starts[-1])
            run_least.append(min(run_least[-1], minute_urls))
        else:
            run_starts.append(offset)
            run_least.append(minute_urls)
    return _Profile(first_minute, offsets, urls, run_starts, run_least)


class _Timeline:
    """URLs a minute the plans placed so far could send (minute 0: the epoch's), and where one more fits.

    A plan is tried at shifts 0, 1, … minutes, but not one by one. Its minutes are checked last to
    first; when minute i clashes (lands on minute m with too little room), two facts rule out shifts:
    minute i itself fits nowhere before the next minute after m with room for it, and when m has
    too little room for any of the minutes in i's run of consecutive minutes, every shift putting
    one of them on m fails too. The search jumps by the larger. Finding "the next minute with room"
    skips blocks of `_BLOCK` minutes by a lower bound of their least load (left stale as loads only
    grow, refreshed when a block is scanned), so a saturated stretch of hours is crossed in a few
    steps. Both matter: a timeline filled by hundreds of plans has small holes everywhere.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.urls: list[int] = []
        self.block_least: list[int] = []  # per block, at most the least URLs of any of its minutes

    def place(self, profile: _Profile) -> int:
        """Add the plan at the least shift (whole minutes, >= 0) that keeps every minute within the cap."""
        loads, cap, first = self.urls, self.cap, profile.first
        offsets, urls = profile.offsets, profile.urls
        # The plan's minutes are checked last to first, round and round, until all of them in a row
        # fit at one shift; a clash moves the shift on and the round goes on from there, rather
        # than starting over from the last minute.
        shift, index, fitting = 0, len(offsets) - 1, 0
        while fitting < len(offsets):
            minute = first + shift + offsets[index]
            if minute < len(loads) and loads[minute] + urls[index] > cap:
                shift = self._past_clash(profile, index, shift)
                fitting = 0
                continue
            fitting += 1
            index = index - 1 if index else len(offsets) - 1
        self._add(profile, shift)
        return shift

    def _past_clash(self, profile: _Profile, index: int, shift: int) -> int:
        """The next shift that can work when the plan's minute `index` clashes at this one."""
        offset = profile.offsets[index]
        minute = profile.first + shift + offset
        past_minute = self._first_room(minute + 1, profile.urls[index]) - profile.first - offset
        past_run = shift
        if self.urls[minute] + profile.run_least[index] > self.cap:
            past_run = shift + offset - profile.run_starts[index] + 1
        return max(past_minute, past_run)

    def _first_room(self, minute: int, urls: int) -> int:
        """The first minute from `minute` on that can take `urls` more (past the known ones, all can)."""
        loads, most = self.urls, self.cap - urls
        known = len(loads)
        if minute >= known:
            return minute
        while minute < known and minute % _BLOCK:
            if loads[minute] <= most:
                return minute
            minute += 1
        while minute < known:
            block = minute // _BLOCK
            if self.block_least[block] <= most:
                stretch = loads[minute : minute + _BLOCK]
                least = min(stretch)
                self.block_least[block] = least
                if least <= most:
                    return minute + next(i for i, load in enumerate(stretch) if load <= most)
            minute += _BLOCK
        return known

    def _add(self, profile: _Profile, shift: int) -> None:
        start = profile.first + shift
        needed = start + profile.offsets[-1] + 1
        if needed > len(self.urls):
            self.urls.extend([0] * (needed - len(self.urls)))
            blocks = math.ceil(needed / _BLOCK)
            # New minutes are empty: a block that gains some has 0 as its lower bound.
            if self.block_least:
                self.block_least[-1] = 0
            self.block_least.extend([0] * (blocks - len(self.block_least)))
        loads = self.urls
        for offset, urls in zip(profile.offsets, profile.urls, strict=True):
            loads[start + offset] += urls


def _by_job(plans: Iterable[ResumedPlan]) -> dict[str, list[ResumedPlan]]:
    jobs: dict[str, list[ResumedPlan]] = {}
    for plan in plans:
        jobs.setdefault(plan.job, []).append(plan)
    return jobs


def _remaining(remaining_urls: Mapping[str, int], job: str) -> int:
    # A job left out must not count as finished: its plans would then be put back unramped.
    if job not in remaining_urls:
        raise ValueError(f"no count of remaining URLs for job {job}")
    return remaining_urls[job]
