"""What pages count plans by (ESA's statuses, and held), and where a job stands by those counts."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Count, Expression, QuerySet

from prefetch_ui.core.precompiled import precompiled_condition
from prefetch_ui.planning.forecast import JobOutlook

from ..holds import Holds, holds
from ..models import UNFINISHED_PLAN_STATUSES, Job, Plan, PlanStatus, Site

STATUS_ORDER = [status.value for status in PlanStatus]
# Not an ESA status: a plan an open incident holds now (parked a year ahead, stopped by the hold,
# or about to be). ESA calls it waiting or stopped, which tells a lead nothing, so pages count it
# as held, apart from ESA's statuses, and show it at its original window.
HELD = "held"
# What pages count plans by and filter them by: ESA's statuses, and held.
COUNTED_STATUSES = [*STATUS_ORDER, HELD]
# Counts that will still change by themselves: a held plan goes back when its incident resumes.
UNFINISHED_COUNTS = (*UNFINISHED_PLAN_STATUSES, HELD)


def plan_is_held() -> Expression:
    """Whether an open incident holds the plan now (`incidents.models.holding_now`), as an
    expression over plans: to count, filter or annotate them in the same query (also a subquery
    over plans). Compiled once (`core.precompiled`): every page that counts plans asks it."""
    return _plan_is_held(holds(), connection.vendor)


@functools.cache
def _plan_is_held(registered: Holds, vendor: str) -> Expression:
    return precompiled_condition(model=Plan, field="esa_id", build=registered.plan_held, name="held")


def plan_counts_by(plans: QuerySet[Plan], field: str) -> dict[Any, dict[str, int]]:
    """`plans` counted by `field` (a job's or a site's id) and by status, a held plan as `HELD`
    whatever ESA calls it: one query."""
    return plan_counts_of(plan_counts_query(plans, field))


def plan_counts_query(plans: QuerySet[Plan], field: str) -> QuerySet[Plan, tuple[Any, str, bool, int]]:
    """The query of `plan_counts_by`: (key, status, held, count) rows."""
    return (
        plans.annotate(held=plan_is_held()).values_list(field, "status", "held").annotate(count=Count("id"))
    ).order_by()


def plan_counts_of(grouped: Iterable[tuple[Any, str, Any, int]]) -> dict[Any, dict[str, int]]:
    """`plan_counts_by` from the rows of its query (`held` as the database answers it: 0 or 1 from
    SQLite's raw rows)."""
    counts: dict[Any, dict[str, int]] = {}
    for key, status, held, count in grouped:
        by_status = counts.setdefault(key, {})
        counted = HELD if held else status
        by_status[counted] = by_status.get(counted, 0) + count
    return counts


def job_remaining_urls(job: Job) -> int:
    """The job's URLs that ESA has not submitted yet."""
    return max(0, job.url_count - job.url_submitted)


def site_idle(site: Site) -> str:
    """Why ESA runs none of the site's plans now, as the sync last read the site: "paused" (paused
    in ESA, `SiteLimits.paused`), the site's status when it is known and not active (ESA starts
    plans only on active sites), else "". Reads the site's limits unless they came with it
    (`select_related("site__limits")`)."""
    limits = getattr(site, "limits", None)  # a site not read yet has none
    if limits is not None and limits.paused:
        return "paused"
    return site.status if site.status and site.status != "active" else ""


def job_state(job: Job, plan_counts: dict[str, int]) -> str:
    """One word for where a job stands, for its badge and progress bar.

    `running` or `waiting` while a plan will still submit, `held` while an incident holds the
    plans that would; then `failed` when a plan failed (even if every URL went out: ESA refused
    some of them, an invalid domain say) or ESA took no URL at all and said why in ErrorInfo,
    `done` when every URL went out, and `unsent` when the plans finished or stopped with URLs left.
    """
    for status in (PlanStatus.RUNNING, PlanStatus.WAITING, HELD):
        if plan_counts.get(status):
            return str(status)
    if plan_counts.get(PlanStatus.FAILED) or (not job.url_count and job.error_info):
        return "failed"
    return "unsent" if job_remaining_urls(job) else "done"


def job_unsent(job: Job, plan_counts: dict[str, int]) -> int:
    """URLs no plan of the job will submit any more: it settled with them left (0 while one will,
    or is held to)."""
    if any(plan_counts.get(status) for status in UNFINISHED_COUNTS):
        return 0
    return job_remaining_urls(job)


class JobCounted:
    """What a job with its plans counted by status says of itself, for the rows and pages that carry
    both (`job`, `plan_counts`)."""

    __slots__ = ()
    job: Job
    plan_counts: dict[str, int]

    @property
    def state(self) -> str:
        return job_state(self.job, self.plan_counts)

    @property
    def unsent(self) -> int:
        return job_unsent(self.job, self.plan_counts)


class JobEstimated(JobCounted):
    """A counted job with its outlook (how its remaining URLs are shared between its plans,
    `planning.url_shares`) and the hold on its site, if any: what `reviews/_estimate.html` says of
    it, in the same words on the builder, the job page and the overview."""

    __slots__ = ()
    outlook: JobOutlook
    hold: object | None

    @property
    def remaining(self) -> int:
        return job_remaining_urls(self.job)

    @property
    def site_idle(self) -> str:
        """Why ESA runs none of the job's plans now (`site_idle`), or ""."""
        return site_idle(self.job.site)

    @property
    def estimate(self) -> str:
        """One word for the estimate: "held", "done", "idle" (ESA runs nothing on its site now:
        paused, or not active), "finishes", or "will not finish"."""
        if self.hold is not None and self.remaining:
            return "held"
        if not self.remaining:
            return "done"
        if self.site_idle:
            return "idle"
        return "finishes" if self.outlook.will_finish else "will not finish"
