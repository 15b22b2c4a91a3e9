"""Mirror rows as the one model of estimates takes them (`planning.url_shares`): the job page, the
builder and the overview adapt their plans here, so they feed it the same plans the same way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from prefetch_ui.planning.forecast import JobOutlook, ScheduledPlan, job_outlook
from prefetch_ui.planning.plan_math import BatchPreview
from prefetch_ui.planning.url_shares import PlanShare

from ..holds import holds
from ..models import PLANS_IN_TIME_ORDER, UNFINISHED_PLAN_STATUSES, Job, Plan, PlanStatus, Site
from .statuses import JobEstimated, job_remaining_urls

# The job page lists each open plan's share up to this many (a job of 1,000 plans shows the first).
PLAN_SHARES_SHOWN = 10


def site_hold(site: Site) -> object | None:
    """The active hold covering `site` (shown with its `pk`), if any: one query."""
    covering: object | None = getattr(holds().site_holds(site), "covering", None)
    return covering


def scheduled_plan(
    *, start: datetime | None, end: datetime | None, interval: int, slice_len: int, status: str
) -> ScheduledPlan | None:
    """A plan that will still fire (waiting or running, with a window) as the model takes it; else None.

    Stopped, finished and failed plans send nothing more; a plan parked by a hold is waiting with
    its window moved far ahead, so it counts only from there.
    """
    if status not in UNFINISHED_PLAN_STATUSES or start is None or end is None:
        return None
    return ScheduledPlan(start, end, interval, slice_len, status == PlanStatus.RUNNING)


def scheduled_plans(plans: Iterable[Plan]) -> list[ScheduledPlan]:
    """The plans that will still fire, in the order given, as the model takes them."""
    return [
        scheduled
        for plan in plans
        if (
            scheduled := scheduled_plan(
                start=plan.start_time,
                end=plan.end_time,
                interval=plan.interval,
                slice_len=plan.slice_len,
                status=plan.status,
            )
        )
        is not None
    ]


@dataclass(frozen=True, slots=True)
class PlanShareRow:
    """One open plan of a job and what falls to it (`PlanShare`), for the job page's ETAs."""

    short_id: str
    status: str
    share: PlanShare


@dataclass(frozen=True, slots=True)
class JobEstimate(JobEstimated):
    """A job's estimate (`reviews/_estimate.html`), with its open plans' shares: the first
    `PLAN_SHARES_SHOWN` that still send, in time order, of `open_plans`."""

    job: Job
    plan_counts: dict[str, int]
    outlook: JobOutlook
    hold: object | None = None
    plans: list[PlanShareRow] = field(default_factory=list)
    open_plans: int = 0

    @property
    def plans_not_shown(self) -> int:
        return self.open_plans - len(self.plans)


def job_estimate(
    *, job: Job, plan_counts: dict[str, int], now: datetime, hold: object | None = None
) -> JobEstimate:
    """How the job's remaining URLs are shared between its open plans (in time order): one query."""
    rows = (
        Plan.objects.filter(job=job, status__in=UNFINISHED_PLAN_STATUSES)
        .order_by(*PLANS_IN_TIME_ORDER)
        .values_list("esa_id", "start_time", "end_time", "interval", "slice_len", "status")
    )
    plans: list[tuple[str, str, ScheduledPlan]] = []
    for esa_id, start, end, interval, slice_len, status in rows:
        scheduled = scheduled_plan(
            start=start, end=end, interval=interval, slice_len=slice_len, status=status
        )
        if scheduled is not None:
            plans.append((esa_id, status, scheduled))
    outlook = job_outlook(
        remaining_urls=job_remaining_urls(job), plans=[plan for _, _, plan in plans], now=now
    )
    shares = outlook.shares.plans if outlook.shares is not None else ()
    sending = [
        PlanShareRow(short_id=esa_id[-8:], status=status, share=share)
        for (esa_id, status, _), share in zip(plans, shares, strict=True)
        if share.batches or share.sends_nothing or share.window_too_short
    ]
    return JobEstimate(
        job=job,
        plan_counts=plan_counts,
        outlook=outlook,
        hold=hold,
        plans=sending[:PLAN_SHARES_SHOWN],
        open_plans=len(sending),
    )


def batch_estimate(*, job: Job, preview: BatchPreview, hold: object | None = None) -> JobEstimate:
    """The job's estimate with a batch being built added to its open plans (`plan_math.preview`): in
    the words the job page will use for the same plans once they exist."""
    shares = preview.shares
    outlook = (
        JobOutlook(
            remaining=shares.remaining, finishes_at=shares.sent_by, unscheduled=shares.no_plan, shares=shares
        )
        if shares is not None
        else JobOutlook(remaining=0, finishes_at=None, unscheduled=0)
    )
    return JobEstimate(job=job, plan_counts={}, outlook=outlook, hold=hold)


def jobs_scheduled_plans(*, job_ids: Iterable[int]) -> dict[int, list[ScheduledPlan]]:
    """Each job's plans that will still fire (by job pk), in time order: one query for all of them."""
    plans: dict[int, list[ScheduledPlan]] = {job_id: [] for job_id in job_ids}
    rows = (
        Plan.objects.filter(job_id__in=list(plans), status__in=UNFINISHED_PLAN_STATUSES)
        .order_by(*PLANS_IN_TIME_ORDER)
        .values_list("job_id", "start_time", "end_time", "interval", "slice_len", "status")
    )
    for job_id, start, end, interval, slice_len, status in rows:
        scheduled = scheduled_plan(
            start=start, end=end, interval=interval, slice_len=slice_len, status=status
        )
        if scheduled is not None:
            plans[job_id].append(scheduled)
    return plans


def jobs_outlooks(*, jobs: list[Job], now: datetime) -> dict[int, JobOutlook]:
    """Each job's outlook (by pk) from its open plans in time order, as `job_estimate` makes it: one
    query for all of them (the timeline's lanes)."""
    plans = jobs_scheduled_plans(job_ids=[job.pk for job in jobs])
    return {
        job.pk: job_outlook(remaining_urls=job_remaining_urls(job), plans=plans[job.pk], now=now)
        for job in jobs
    }
