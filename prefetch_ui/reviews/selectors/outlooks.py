"""A job's outlook as a team lead reads it: done, finishing by when, held, or short of plans; and the
flags that put it first on the overview (failed, late, held, stalled).

The arithmetic is `prefetch_ui.planning.forecast`; this module turns mirror rows into its inputs
and its answers into words.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from prefetch_ui.incidents.models import Incident
from prefetch_ui.planning.forecast import JobOutlook, ScheduledPlan, job_outlook
from prefetch_ui.prefetch.models import Job, Plan, PlanStatus, Site
from prefetch_ui.prefetch.selectors.estimates import scheduled_plans
from prefetch_ui.prefetch.selectors.statuses import HELD, UNFINISHED_COUNTS, JobEstimated, job_remaining_urls

# The flags, in the order the overview ranks them.
ATTENTION_FLAGS = ("held", "failed", "late", "stalled")
FLAG_HINTS = {
    "held": "an incident holds this site: nothing is sent until it is resumed",
    "failed": "a plan failed, or ESA took none of the job's URLs",
    "late": "a plan is still waiting well after its start time: ESA has not started it",
    "stalled": "URLs are left that no scheduled plan will submit",
}


def late_cutoff(now: datetime) -> datetime:
    """A waiting plan that should have started before this is late (ESA starts plans within seconds)."""
    return now - timedelta(seconds=settings.PREFETCH_LATE_AFTER_SECONDS)


@dataclass(frozen=True, slots=True)
class JobReview(JobEstimated):
    """A job on the overview: its progress, plans by status, outlook and what needs attention."""

    job: Job
    plan_counts: dict[str, int]
    outlook: JobOutlook
    late_plans: int
    hold: Incident | None

    @property
    def flags(self) -> list[str]:
        flags = []
        if self.hold is not None:
            flags.append("held")
        if self.plan_counts.get(PlanStatus.FAILED) or self.state == "failed":
            flags.append("failed")
        if self.late_plans and self.hold is None:
            flags.append("late")
        # While held, URLs without a plan are the hold's doing, not a stall.
        if self.outlook.unscheduled and self.hold is None:
            flags.append("stalled")
        return flags

    @property
    def unfinished(self) -> bool:
        return any(self.plan_counts.get(status) for status in UNFINISHED_COUNTS)


def job_review(
    *,
    job: Job,
    plans: list[Plan],
    now: datetime,
    hold: Incident | None = None,
    held: Collection[str] = (),
) -> JobReview:
    """A job's review from its plans (all of them, any status); those of `held` (ESA ids), which an
    incident holds, counted as held whatever ESA calls them."""
    counts: dict[str, int] = {}
    for plan in plans:
        status = HELD if plan.esa_id in held else plan.status
        counts[status] = counts.get(status, 0) + 1
    cutoff = late_cutoff(now)
    late = sum(
        1
        for plan in plans
        if plan.status == PlanStatus.WAITING and plan.start_time is not None and plan.start_time < cutoff
    )
    return job_review_of(
        job=job, plan_counts=counts, late_plans=late, scheduled=scheduled_plans(plans), now=now, hold=hold
    )


def job_review_of(
    *,
    job: Job,
    plan_counts: dict[str, int],
    late_plans: int,
    scheduled: list[ScheduledPlan],
    now: datetime,
    hold: Incident | None = None,
) -> JobReview:
    """A job's review from its plans counted by status, its late ones, and those that will still
    fire (`scheduled_plans`): what a page of many jobs reads in SQL instead of every plan."""
    outlook = job_outlook(remaining_urls=job_remaining_urls(job), plans=scheduled, now=now)
    return JobReview(job=job, plan_counts=plan_counts, outlook=outlook, late_plans=late_plans, hold=hold)


def hold_of(site: Site, holds: Iterable[Incident]) -> Incident | None:
    """The active hold that covers `site` (its own, else one of every site), if any."""
    every_site = None
    for incident in holds:
        if incident.site_id == site.pk:
            return incident
        if incident.site_id is None:
            every_site = every_site or incident
    return every_site
