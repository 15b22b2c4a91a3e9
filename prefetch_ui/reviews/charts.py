"""Geometry of the server-drawn SVG pictures: the timeline's lanes and bars, and the load chart.

Pure (no Django): times in, positions out. Horizontal positions are percentages of the picture's
width, so one SVG fits 1400 px and 390 px alike with its text at its own size; vertical ones are
pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "Axis",
    "Day",
    "LoadBar",
    "LoadChart",
    "Tick",
    "load_chart",
    "pack_rows",
]

# Tick spacings to choose from, smallest first: the first that gives at most MAX_TICKS is used.
_TICK_STEPS = tuple(
    timedelta(minutes=minutes) for minutes in (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880)
)
MAX_TICKS = 8
# Bucket lengths of the load chart, in minutes: the first that keeps the bars within `max_bars`.
_BUCKET_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360)
# From this long a window on, the axis is a week view: a line at each midnight, the day named at its
# noon, and hours only every 6 (their labels hidden where the picture is too narrow for them).
DAYS_FROM = timedelta(hours=48)
_DAY_HOURS = timedelta(hours=6)
# A bar narrower than this (a plan of a few minutes in a week) is drawn this wide, to be seen and hovered.
MIN_BAR_PERCENT = 0.4


# A tick's label is centred on it: one this close to a side of the chart (in percent of its width)
# would stick out of the picture by part of its width (on a phone a time label is about 9 % of the
# chart wide), so it is not shown; its line is. Its neighbours, a step away, still say the time.
EDGE_PERCENT = 5.0


@dataclass(frozen=True, slots=True)
class Tick:
    x: float  # percent
    label: str

    @property
    def at_edge(self) -> bool:
        """Whether the label would stick out of the chart (it is then hidden)."""
        return self.x < EDGE_PERCENT or self.x > 100 - EDGE_PERCENT


@dataclass(frozen=True, slots=True)
class Axis:
    """A time window mapped onto 0 to 100 % of the picture's width, with its ticks in `zone`."""

    start: datetime
    end: datetime
    zone: ZoneInfo

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def x(self, moment: datetime) -> float:
        """Where `moment` is, in percent (clamped to the window)."""
        offset = (moment - self.start).total_seconds() / self.seconds
        return round(100 * min(1.0, max(0.0, offset)), 3)

    def span(self, start: datetime, end: datetime) -> tuple[float, float] | None:
        """The (x, width) of [start, end] clipped to the window, at least MIN_BAR_PERCENT wide."""
        if end < self.start or start > self.end:
            return None
        left, right = self.x(start), self.x(end)
        width = max(MIN_BAR_PERCENT, right - left)
        return min(left, 100 - width), round(width, 3)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end

    @property
    def by_days(self) -> bool:
        """Whether the axis is a week view (`days` and hour ticks) rather than time ticks alone."""
        return self.end - self.start >= DAYS_FROM

    @property
    def days(self) -> list[Day]:
        """In a week view, every local day whose noon is in the window: its label at its noon, and
        the line of its midnight (None when that is before the window)."""
        if not self.by_days:
            return []
        local = self.start.astimezone(self.zone)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0).replace(tzinfo=None)
        days = []
        while True:
            midnight = day.replace(tzinfo=self.zone)
            noon = (day + timedelta(hours=12)).replace(tzinfo=self.zone)
            if noon > self.end:
                break
            if noon >= self.start:
                line = self.x(midnight) if midnight >= self.start else None
                days.append(Day(self.x(noon), line, noon.strftime("%a %d"), noon.strftime("%b")))
            day += timedelta(days=1)
        return days

    @property
    def ticks(self) -> list[Tick]:
        if self.by_days:
            return self._hour_ticks()
        step = next(
            (step for step in _TICK_STEPS if self.seconds / step.total_seconds() <= MAX_TICKS),
            _TICK_STEPS[-1],
        )
        local = self.start.astimezone(self.zone)
        # The first whole step after the start, in local wall-clock terms (so 14:00, not 14:07).
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        steps_in = math.ceil((local - midnight) / step)
        moment = midnight + steps_in * step
        ticks = []
        while moment <= self.end:
            wall = moment.astimezone(self.zone)
            with_day = step >= timedelta(days=1) or (wall.hour == 0 and wall.minute == 0)
            ticks.append(Tick(self.x(moment), wall.strftime("%d %b" if with_day else "%H:%M")))
            moment += step
        return ticks

    def _hour_ticks(self) -> list[Tick]:
        """A week view's hours: 06:00, 12:00 and 18:00 of each day (midnight is the day's line)."""
        local = self.start.astimezone(self.zone)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0).replace(tzinfo=None)
        ticks = []
        while day.replace(tzinfo=self.zone) <= self.end:
            for hours in (6, 12, 18):
                moment = (day + timedelta(hours=hours)).replace(tzinfo=self.zone)
                if self.start <= moment <= self.end:
                    ticks.append(Tick(self.x(moment), moment.strftime("%H:%M")))
            day += timedelta(days=1)
        return ticks


@dataclass(frozen=True, slots=True)
class Day:
    """A day of a week view: its name at its noon, and its midnight's line."""

    x: float  # percent: its noon, where its label is centred
    line_x: float | None  # percent: its midnight; None when that is before the window
    label: str  # "Mon 07"
    month: str  # "Dec", shown where there is room


def pack_rows(spans: Sequence[tuple[float, float]]) -> tuple[list[int], int]:
    """Sub-lanes for bars that may overlap: each span (start, end), taken by its start, goes in the
    first row where it overlaps nothing already there. Returns each span's row, in the order given,
    and the number of rows, which is the most spans overlapping at one instant (first fit in order
    of start is optimal for intervals). Spans are half-open: one ending where the next starts
    shares its row."""
    rows = [0] * len(spans)
    ends: list[float] = []  # per row, where its last span ends
    for index in sorted(range(len(spans)), key=lambda index: spans[index]):
        start, end = spans[index]
        row = next((row for row, row_end in enumerate(ends) if row_end <= start), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        rows[index] = row
    return rows, len(ends)


@dataclass(frozen=True, slots=True)
class LoadBar:
    x: float  # percent
    width: float  # percent
    y: float  # px from the top
    height: float  # px
    urls_per_minute: int
    start: datetime


@dataclass(frozen=True, slots=True)
class LoadChart:
    """URLs a minute over time as bars: each bar the busiest minute of its bucket."""

    bars: list[LoadBar]
    height: int
    scale_max: int  # the value at the top of the chart
    bucket: timedelta


def load_chart(
    *, axis: Axis, start: datetime, urls_per_minute: Sequence[int], height: int = 96, max_bars: int = 144
) -> LoadChart:
    """Bars for a per-minute series beginning at `start` (a whole minute), within the axis' window.

    A bucket shows its busiest minute, not its average: a lead approving a batch needs the peaks.
    """
    minutes = len(urls_per_minute)
    needed = math.ceil(minutes / max_bars) if minutes else 1
    per_bucket = next((size for size in _BUCKET_MINUTES if size >= needed), needed)
    peak = max(urls_per_minute, default=0)
    scale_max = _nice_ceiling(peak)
    bars = []
    for first in range(0, minutes, per_bucket):
        busiest = max(urls_per_minute[first : first + per_bucket])
        if not busiest:
            continue
        bucket_start = start + timedelta(minutes=first)
        span = axis.span(bucket_start, bucket_start + timedelta(minutes=per_bucket))
        if span is None:
            continue
        bar_height = round(height * busiest / scale_max, 2)
        bars.append(
            LoadBar(span[0], span[1], round(height - bar_height, 2), bar_height, busiest, bucket_start)
        )
    return LoadChart(bars=bars, height=height, scale_max=scale_max, bucket=timedelta(minutes=per_bucket))


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2 or 5 times a power of ten at or above `value`: a round top for the scale."""
    if value <= 1:
        return 1
    magnitude: int = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= value:
            return factor * magnitude
    return 10 * magnitude
