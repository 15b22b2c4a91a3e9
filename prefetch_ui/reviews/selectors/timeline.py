"""The timeline: plans over a window as lanes of bars (a lane per job, grouped by site), and the origin
load forecast: URLs a minute that the scheduled plans will send to each site until the window ends.

The lanes are paginated (`LANES_PER_PAGE` jobs); the forecast covers every site in the filter,
whatever page is shown. Eight queries whatever the numbers: jobs in the window (count and page), their
plans, the holds, what holds those plans, the jobs' open plans (their estimates), and the plans that
will still send.

A job's plans that overlap are stacked in sub-lanes (`pack_rows`), at most `MAX_ROWS`; the plans a
full lane has no room for are counted on a bar they overlap ("+3") and listed in its facts.

A plan an incident holds is drawn at its original window (its parked one is a year ahead), hatched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.paginator import Page, Paginator
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from prefetch_ui.incidents.models import HOLD_ACTIVE_STATUSES, HeldPlan, Incident
from prefetch_ui.incidents.selectors import holding_rows, plans_held
from prefetch_ui.planning.forecast import LoadSeries, job_load
from prefetch_ui.prefetch.models import (
    JOBS_NEWEST_FIRST,
    PLANS_IN_TIME_ORDER,
    UNFINISHED_PLAN_STATUSES,
    Job,
    Plan,
    Site,
)
from prefetch_ui.prefetch.selectors.estimates import JobEstimate, jobs_outlooks, scheduled_plans
from prefetch_ui.prefetch.selectors.statuses import job_remaining_urls, plan_counts_by, plan_is_held

from ..charts import Axis, LoadChart, load_chart, pack_rows
from .outlooks import hold_of

LANES_PER_PAGE = 40
# Vertical layout of the lanes picture, in px.
AXIS_HEIGHT = 28
AXIS_HEIGHT_BY_DAYS = 40  # a week view: the days' names above their hours
SITE_ROW = 26
LANE_LABEL = 16
BAR_HEIGHT = 14
ROW_GAP = 3  # between a lane's sub-lanes
LANE_GAP = 8
# Sub-lanes a job's lane grows to at most; plans beyond are counted on a bar ("+3").
MAX_ROWS = 6


@dataclass(frozen=True, slots=True)
class TimelineBar:
    plan: Plan
    x: float  # percent
    width: float  # percent
    # What holds the plan, when an incident does: the bar is then its original window.
    held: HeldPlan | None = None
    y: int = 0  # px: the top of its sub-lane
    # Plans of the job that overlap this one and found no sub-lane (the lane has MAX_ROWS).
    more: tuple[Plan, ...] = ()

    @property
    def urls_per_minute(self) -> float:
        return round(self.plan.slice_len * 60 / self.plan.interval, 1) if self.plan.interval else 0

    @property
    def status(self) -> str:
        """What the bar says the plan is: "held" while an incident holds it, else ESA's status."""
        return "held" if self.held is not None else self.plan.status

    @property
    def label_x(self) -> float:
        """Where a count of `more` sits: at the bar's right end, inside the picture."""
        return min(self.x + self.width, 99.5)


@dataclass(slots=True)
class Lane:
    job: Job
    label_y: int
    bar_y: int
    bars: list[TimelineBar] = field(default_factory=list)
    rows: int = 1  # sub-lanes
    # When the job's URLs will all be sent, or how many have no plan: the job page's words for it.
    estimate: JobEstimate | None = None

    @property
    def rule_y(self) -> int:
        return self.bar_y + self.rows * (BAR_HEIGHT + ROW_GAP) - ROW_GAP // 2 + 1

    @property
    def hidden(self) -> int:
        return sum(len(bar.more) for bar in self.bars)


@dataclass(slots=True)
class SiteGroup:
    site: Site
    hold: Incident | None
    label_y: int
    lanes: list[Lane] = field(default_factory=list)


@dataclass(slots=True)
class SiteLoad:
    """What prefetch will send to one site's origin from now until the window's end."""

    site: Site
    series: LoadSeries
    chart: LoadChart

    @property
    def peak(self) -> tuple[datetime, int] | None:
        return self.series.peak

    @property
    def total(self) -> int:
        return self.series.total


@dataclass(slots=True)
class Timeline:
    axis: Axis
    now: datetime
    page: Page[Job]
    groups: list[SiteGroup]
    height: int
    loads: list[SiteLoad]
    # Every site's load together (None with fewer than two sites sending).
    total_load: SiteLoad | None

    @property
    def now_x(self) -> float | None:
        return self.axis.x(self.now) if self.axis.contains(self.now) else None

    @property
    def bar_count(self) -> int:
        return sum(len(lane.bars) for group in self.groups for lane in group.lanes)

    @property
    def axis_height(self) -> int:
        return AXIS_HEIGHT_BY_DAYS if self.axis.by_days else AXIS_HEIGHT

    @property
    def unfinished(self) -> bool:
        """Anything shown can still change: a plan waiting or running, or load still to come."""
        shown = any(
            bar.plan.status in UNFINISHED_PLAN_STATUSES or bar.held is not None  # resumed some day
            for group in self.groups
            for lane in group.lanes
            for bar in lane.bars
        )
        return shown or any(load.total for load in self.loads)


def _in_window(start: datetime, end: datetime) -> Q:
    """Plans whose window meets [start, end]: for a plan an incident holds, its original window
    (the one it was meant to run in; its parked one is a year ahead)."""
    held_there = holding_rows().filter(
        plan_esa_id=OuterRef("esa_id"), original_start__lte=end, original_end__gte=start
    )
    return (Q(start_time__lte=end, end_time__gte=start) & ~Q(plan_is_held())) | Q(Exists(held_there))


def window_of(plan: Plan, held: HeldPlan | None) -> tuple[datetime | None, datetime | None]:
    """The window a page shows a plan at: its original one while an incident holds it."""
    if held is not None:
        return held.original_start, held.original_end
    return plan.start_time, plan.end_time


def timeline_jobs(*, start: datetime, end: datetime, site: Site | None = None) -> QuerySet[Job]:
    """Jobs with a plan whose window meets [start, end], by site name then newest first."""
    jobs = Job.objects.filter(Exists(Plan.objects.filter(_in_window(start, end), job=OuterRef("pk"))))
    if site is not None:
        jobs = jobs.filter(site=site)
    return jobs.select_related("site__limits").order_by("site__name", "site_id", *JOBS_NEWEST_FIRST)


def timeline_plans(*, start: datetime, end: datetime, site: Site | None = None) -> QuerySet[Plan]:
    """Plans whose window meets [start, end] (the plans CSV): by site, job and start."""
    plans = Plan.objects.filter(_in_window(start, end))
    if site is not None:
        plans = plans.filter(job__site=site)
    return plans.select_related("job__site").order_by(
        "job__site__name", F("job__esa_created_at").asc(nulls_last=True), *PLANS_IN_TIME_ORDER
    )


def timeline_plans_held(
    *, start: datetime, end: datetime, site: Site | None = None, chunk: int = 2000
) -> Iterator[tuple[Plan, HeldPlan | None]]:
    """`timeline_plans`, each with what holds it (None: nothing), `chunk` plans at a time: two
    queries a chunk, memory flat for any number of plans (the plans CSV)."""
    batch: list[Plan] = []
    for plan in timeline_plans(start=start, end=end, site=site).iterator(chunk_size=chunk):
        batch.append(plan)
        if len(batch) == chunk:
            yield from _with_holds(batch)
            batch = []
    yield from _with_holds(batch)


def _with_holds(plans: list[Plan]) -> Iterator[tuple[Plan, HeldPlan | None]]:
    holds = plans_held(plan_esa_ids=[plan.esa_id for plan in plans])
    for plan in plans:
        yield plan, holds.get(plan.esa_id)


def timeline(
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    zone: ZoneInfo,
    site: Site | None = None,
    page_number: int = 1,
) -> Timeline:
    """The lanes of one page of jobs over [start, end], and every site's forecast load until `end`."""
    axis = Axis(start, end, zone)
    page = Paginator(timeline_jobs(start=start, end=end, site=site), LANES_PER_PAGE).get_page(page_number)
    jobs = list(page.object_list)
    site_holds = list(Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).select_related("site"))
    plans: dict[int, list[Plan]] = defaultdict(list)
    for plan in Plan.objects.filter(_in_window(start, end), job_id__in=[job.pk for job in jobs]).order_by(
        *PLANS_IN_TIME_ORDER
    ):
        plans[plan.job_id].append(plan)
    holds = plans_held(plan_esa_ids=[plan.esa_id for job_plans in plans.values() for plan in job_plans])
    site_hold = {job.site_id: hold_of(job.site, site_holds) for job in jobs}
    outlooks = jobs_outlooks(jobs=jobs, now=now)
    counts = plan_counts_by(Plan.objects.filter(job_id__in=[job.pk for job in jobs]), "job_id")
    groups: list[SiteGroup] = []
    y = AXIS_HEIGHT_BY_DAYS if axis.by_days else AXIS_HEIGHT
    for job in jobs:
        if not groups or groups[-1].site.pk != job.site_id:
            groups.append(SiteGroup(site=job.site, hold=site_hold[job.site_id], label_y=y + SITE_ROW - 8))
            y += SITE_ROW
        lane = _lane(job, plans[job.pk], holds=holds, axis=axis, y=y)
        lane.estimate = JobEstimate(
            job=job, plan_counts=counts.get(job.pk, {}), outlook=outlooks[job.pk], hold=groups[-1].hold
        )
        groups[-1].lanes.append(lane)
        y += LANE_LABEL + lane.rows * (BAR_HEIGHT + ROW_GAP) - ROW_GAP + LANE_GAP
    loads, total = _loads(axis=axis, now=now, site=site)
    return Timeline(axis=axis, now=now, page=page, groups=groups, height=y, loads=loads, total_load=total)


def _lane(job: Job, plans: list[Plan], *, holds: dict[str, HeldPlan], axis: Axis, y: int) -> Lane:
    """A job's lane: its plans' bars, those that overlap stacked in sub-lanes (at most MAX_ROWS)."""
    lane = Lane(job=job, label_y=y + LANE_LABEL - 4, bar_y=y + LANE_LABEL)
    drawn: list[tuple[Plan, HeldPlan | None, tuple[float, float]]] = []
    for plan in plans:
        held = holds.get(plan.esa_id)
        plan_start, plan_end = window_of(plan, held)
        if plan_start is None or plan_end is None:  # never: _in_window needs both
            continue
        span = axis.span(plan_start, plan_end)
        if span is not None:
            drawn.append((plan, held, span))
    # Packed as drawn, not by their times: a short plan drawn MIN_BAR_PERCENT wide needs its room.
    rows, lane.rows = pack_rows([(x, x + width) for _, _, (x, width) in drawn])
    lane.rows = max(1, min(lane.rows, MAX_ROWS))
    shown = [index for index, row in enumerate(rows) if row < MAX_ROWS]
    more: dict[int, list[Plan]] = defaultdict(list)
    for index, row in enumerate(rows):
        if row >= MAX_ROWS:
            # First fit put it past every row, so it overlaps a bar of the last one: counted there.
            x, width = drawn[index][2]
            home = next(
                other
                for other in shown
                if rows[other] == MAX_ROWS - 1 and drawn[other][2][0] < x + width and x < sum(drawn[other][2])
            )
            more[home].append(drawn[index][0])
    for index in shown:
        plan, held, (x, width) = drawn[index]
        bar_y = lane.bar_y + rows[index] * (BAR_HEIGHT + ROW_GAP)
        lane.bars.append(TimelineBar(plan, x, width, held=held, y=bar_y, more=tuple(more[index])))
    return lane


def load_forecast(
    *, now: datetime, until: datetime, site: Site | None = None
) -> list[tuple[Site, LoadSeries]]:
    """The origin load forecast: per site that will be sent anything (by name), the URLs a minute
    its waiting and running plans will send from the minute of `now` until `until`. What the
    timeline's forecast draws, and the API answers with."""
    if until <= now:
        return []
    plans = Plan.objects.filter(
        status__in=UNFINISHED_PLAN_STATUSES, end_time__gte=now, start_time__lte=until
    ).select_related("job__site")
    if site is not None:
        plans = plans.filter(job__site=site)
    by_job: dict[int, list[Plan]] = defaultdict(list)
    for plan in plans:
        by_job[plan.job_id].append(plan)
    start = now.replace(second=0, microsecond=0)
    sites: dict[int, Site] = {}
    series: dict[int, LoadSeries] = {}
    for job_plans in by_job.values():
        job = job_plans[0].job
        load = job_load(
            remaining_urls=job_remaining_urls(job), plans=scheduled_plans(job_plans), now=now, until=until
        )
        sites[job.site_id] = job.site
        series.setdefault(job.site_id, LoadSeries(start)).add(load)
    return [
        (sites[site_id], one)
        for site_id, one in sorted(series.items(), key=lambda item: sites[item[0]].name)
        if one.total
    ]


def load_forecast_total(loads: list[tuple[Site, LoadSeries]]) -> LoadSeries | None:
    """Every site's forecast load together; None with fewer than two sites sending (the timeline
    then draws no chart of it: it would be the one site's again)."""
    if len(loads) < 2:
        return None
    every = LoadSeries(loads[0][1].start)
    for _, one in loads:
        every.add(one)
    return every


def _loads(*, axis: Axis, now: datetime, site: Site | None) -> tuple[list[SiteLoad], SiteLoad | None]:
    """Per site, the URLs a minute its scheduled plans will send from now until the window's end."""
    forecast = load_forecast(now=now, until=axis.end, site=site)
    start = now.replace(second=0, microsecond=0)
    loads = [
        SiteLoad(one_site, one, load_chart(axis=axis, start=start, urls_per_minute=one.urls))
        for one_site, one in forecast
    ]
    every = load_forecast_total(forecast)
    if every is None:
        return loads, None
    every_site = Site(name="every site")
    return loads, SiteLoad(every_site, every, load_chart(axis=axis, start=start, urls_per_minute=every.urls))


__all__ = [
    "LANES_PER_PAGE",
    "MAX_ROWS",
    "Lane",
    "SiteGroup",
    "SiteLoad",
    "Timeline",
    "TimelineBar",
    "load_forecast",
    "load_forecast_total",
    "timeline",
    "timeline_jobs",
    "timeline_plans",
    "timeline_plans_held",
    "window_of",
]
