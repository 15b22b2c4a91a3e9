"""Reads for the plan builder: the plans a new batch must fit beside, what the site's prefetch quota
makes of it, and the rows ESA refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.planning.plan_math import PlanDraft, Window
from prefetch_ui.web.request_ids import id_number

from ..models import PLANS_IN_TIME_ORDER, UNFINISHED_PLAN_STATUSES, Job, Operation, OperationKind, Plan, Site
from .estimates import scheduled_plans
from .quota_checks import QuotaCheck, plans_quota_check


def job_open_plan_drafts(job: Job) -> list[PlanDraft]:
    """The job's plans that will still submit (waiting or running), in time order, as the plan
    arithmetic takes them: the plans the job page shares its URLs between (`job_estimate`), a
    running one keeping the phase of its start as it does there."""
    return [
        PlanDraft(plan.start, plan.end, plan.interval, plan.slice_len, running=plan.running)
        for plan in scheduled_plans(
            job.plans.filter(status__in=UNFINISHED_PLAN_STATUSES).order_by(*PLANS_IN_TIME_ORDER)
        )
    ]


def site_open_plan_windows(site: Site) -> list[Window]:
    """The windows of every waiting or running plan on the site, named for overlap warnings."""
    plans = Plan.objects.filter(job__site=site, status__in=UNFINISHED_PLAN_STATUSES).select_related("job")
    return [
        # Named by the end of its id, as every page names plans: ids made in the same second share
        # their first 8 characters (a timestamp), never their last.
        Window(plan.start_time, plan.end_time, f"plan …{plan.short_id} of “{plan.job.name}” ({plan.status})")
        for plan in plans
        if plan.start_time and plan.end_time
    ]


def batch_quota_check(*, job: Job, drafts: Sequence[PlanDraft], now: datetime) -> QuotaCheck | None:
    """What the site's daily prefetch quota makes of the batch's plans added to the job (None for a
    batch without a valid row): the warning before it is sent, on every quota day it sends on."""
    if not drafts:
        return None
    plans = [ScheduledPlan(draft.start, draft.end, draft.interval, draft.slice_len) for draft in drafts]
    return plans_quota_check(site=job.site, now=now, added={job.pk: plans})


@dataclass(frozen=True, slots=True)
class RefusedRow:
    """A row of a batch that ESA refused, as it was sent, with ESA's reason."""

    start: datetime
    end: datetime
    interval: int
    slice_len: int
    message: str


def plans_create_refused_rows(*, job: Job, operation_id: str) -> list[RefusedRow]:
    """The rows ESA refused in one of the job's batches (`operation_id` as it came in a link)."""
    operation_pk = id_number(operation_id)
    if operation_pk is None:
        return []
    operation = Operation.objects.filter(pk=operation_pk, job=job, kind=OperationKind.PLANS_CREATE).first()
    if operation is None:
        return []
    outcomes = operation.result.get("rows", {})
    return [
        RefusedRow(
            datetime.fromisoformat(row["start_time"]),
            datetime.fromisoformat(row["end_time"]),
            int(row["interval"]),
            int(row["slice_len"]),
            str(outcomes[row["row"]].get("message", "")),
        )
        for row in operation.params.get("rows", [])
        if outcomes.get(row["row"], {}).get("status") == "refused"
    ]
