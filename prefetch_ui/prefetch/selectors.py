"""Reads for the pages: the mirror shaped for display, in a fixed number of queries."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from prefetch_ui.planning.plan_math import PlanDraft, Window

from .models import (
    ACTIVE_OPERATION_STATUSES,
    JOBS_NEWEST_FIRST,
    UNFINISHED_PLAN_STATUSES,
    Job,
    Operation,
    OperationKind,
    OperationStatus,
    Plan,
    PlanStatus,
    Site,
)

STATUS_ORDER = [status.value for status in PlanStatus]


def job_remaining_urls(job: Job) -> int:
    """The job's URLs that ESA has not submitted yet."""
    return max(0, job.url_count - job.url_submitted)


def job_state(job: Job, plan_counts: dict[str, int]) -> str:
    """One word for where a job stands, for its badge and progress bar.

    `running` or `waiting` while a plan will still submit; then `done` when every URL went out,
    `failed` when a plan failed (or ESA took no URL at all and said why in ErrorInfo), and
    `unsent` when the plans finished or stopped with URLs left.
    """
    for status in (PlanStatus.RUNNING, PlanStatus.WAITING):
        if plan_counts.get(status):
            return str(status)
    if not job.url_count and job.error_info:
        return "failed"
    if not job_remaining_urls(job):
        return "done"
    return "failed" if plan_counts.get(PlanStatus.FAILED) else "unsent"


def job_unsent(job: Job, plan_counts: dict[str, int]) -> int:
    """URLs no plan of the job will submit any more: it settled with them left (0 while one will)."""
    if any(plan_counts.get(status) for status in UNFINISHED_PLAN_STATUSES):
        return 0
    return job_remaining_urls(job)


def site_list() -> QuerySet[Site]:
    """Every site with its job count and plan counts by status."""
    plan_counts = {
        f"plans_{status}": Count("jobs__plans", filter=Q(jobs__plans__status=status))
        for status in STATUS_ORDER
    }
    return Site.objects.annotate(job_count=Count("jobs", distinct=True), **plan_counts).order_by("name")


def site_job_list(
    *, site: Site, name: str = "", created_from: date | None = None, created_to: date | None = None
) -> QuerySet[Job]:
    """A site's jobs, newest first, filtered by name and creation date.

    Plain rows, so that paginating walks the (site, -esa_created_at) index; the plan counts of
    the page shown come from `job_rows`.
    """
    jobs = Job.objects.filter(site=site)
    if name:
        jobs = jobs.filter(name__icontains=name)
    if created_from:
        jobs = jobs.filter(esa_created_at__date__gte=created_from)
    if created_to:
        jobs = jobs.filter(esa_created_at__date__lte=created_to)
    return jobs.order_by(*JOBS_NEWEST_FIRST)


@dataclass(frozen=True, slots=True)
class JobRow:
    """A job as the site page lists it, with its plans counted by status."""

    job: Job
    plan_counts: dict[str, int]

    @property
    def unfinished(self) -> bool:
        return any(self.plan_counts.get(status, 0) for status in UNFINISHED_PLAN_STATUSES)

    @property
    def state(self) -> str:
        return job_state(self.job, self.plan_counts)

    @property
    def unsent(self) -> int:
        return job_unsent(self.job, self.plan_counts)


def job_rows(jobs: Iterable[Job]) -> list[JobRow]:
    """The given jobs with their plan counts by status, in one query for all of them."""
    jobs = list(jobs)
    counts: dict[int, dict[str, int]] = {job.pk: {} for job in jobs}
    grouped = (
        Plan.objects.filter(job_id__in=counts.keys())
        .values_list("job_id", "status")
        .annotate(count=Count("id"))
        .order_by()
    )
    for job_id, status, count in grouped:
        counts[job_id][status] = count
    return [JobRow(job=job, plan_counts=counts[job.pk]) for job in jobs]


@dataclass(frozen=True, slots=True)
class PlanRow:
    """A plan as the job page shows it: with its latest operation and, when running, an ETA."""

    plan: Plan
    operation: Operation | None
    eta: datetime | None
    finishes_late: bool

    @property
    def busy(self) -> bool:
        return self.operation is not None and self.operation.is_active

    @property
    def failed_operation(self) -> Operation | None:
        if self.operation is not None and self.operation.status == OperationStatus.FAILED:
            return self.operation
        return None


def plan_eta(*, job: Job, plan: Plan, now: datetime) -> datetime | None:
    """When a running plan will have submitted the job's remaining URLs, at its pace."""
    if plan.status != PlanStatus.RUNNING or plan.slice_len <= 0:
        return None
    remaining = job_remaining_urls(job)
    batches = math.ceil(remaining / plan.slice_len)
    # The batch going out now is one of them; the rest follow every `interval` seconds.
    return now + timedelta(seconds=max(0, batches - 1) * plan.interval)


@dataclass(frozen=True, slots=True)
class JobDetail:
    job: Job
    plan_rows: list[PlanRow]
    operations: list[Operation]
    job_operation: Operation | None
    plan_counts: dict[str, int]

    @property
    def unfinished(self) -> bool:
        return any(row.plan.is_unfinished or row.busy for row in self.plan_rows) or any(
            operation.is_active for operation in self.operations
        )

    @property
    def state(self) -> str:
        return job_state(self.job, self.plan_counts)

    @property
    def unsent(self) -> int:
        return job_unsent(self.job, self.plan_counts)


def job_detail(*, job: Job, now: datetime | None = None, operations_shown: int = 10) -> JobDetail:
    """A job's plans, each with its latest operation, and the job's recent operations.

    Three queries whatever the number of plans: plans, their latest operations, the job's.
    """
    now = now or timezone.now()
    newest = Operation.objects.filter(plan=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    plans = list(job.plans.annotate(latest_operation_id=Subquery(newest)))
    latest = Operation.objects.in_bulk(
        [plan.latest_operation_id for plan in plans if plan.latest_operation_id]
    )
    operations = list(
        Operation.objects.filter(job=job)
        .select_related("requested_by")
        .order_by("-created_at", "-id")[:operations_shown]
    )
    job_operation = next((op for op in operations if op.plan_id is None), None)
    rows = []
    for plan in plans:
        eta = plan_eta(job=job, plan=plan, now=now)
        rows.append(
            PlanRow(
                plan=plan,
                operation=latest.get(plan.latest_operation_id),
                eta=eta,
                finishes_late=eta is not None and plan.end_time is not None and eta > plan.end_time,
            )
        )
    return JobDetail(
        job=job,
        plan_rows=rows,
        operations=operations,
        job_operation=job_operation,
        plan_counts=dict(Counter(plan.status for plan in plans)),
    )


def site_job_creations(site: Site, *, now: datetime | None = None) -> list[Operation]:
    """Jobs asked for on this site that ESA does not have yet: under way, or failed in the last day."""
    since = (now or timezone.now()) - timedelta(days=1)
    return list(
        Operation.objects.filter(site=site, kind=OperationKind.JOB_CREATE)
        .filter(
            Q(status__in=ACTIVE_OPERATION_STATUSES) | Q(status=OperationStatus.FAILED, created_at__gte=since)
        )
        .select_related("requested_by")
        .order_by("-created_at")[:20]
    )


def job_open_plan_drafts(job: Job) -> list[PlanDraft]:
    """The job's plans that will still submit (waiting or running), as the plan arithmetic takes them."""
    return [
        PlanDraft(plan.start_time, plan.end_time, plan.interval, plan.slice_len)
        for plan in job.plans.filter(status__in=UNFINISHED_PLAN_STATUSES)
        if plan.start_time and plan.end_time
    ]


def site_open_plan_windows(site: Site) -> list[Window]:
    """The windows of every waiting or running plan on the site, named for overlap warnings."""
    plans = Plan.objects.filter(job__site=site, status__in=UNFINISHED_PLAN_STATUSES).select_related("job")
    return [
        Window(
            plan.start_time, plan.end_time, f"plan {plan.esa_id[:8]}… of “{plan.job.name}” ({plan.status})"
        )
        for plan in plans
        if plan.start_time and plan.end_time
    ]


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
    if not operation_id.isascii() or not operation_id.isdigit() or len(operation_id) > 18:
        return []
    operation = Operation.objects.filter(
        pk=int(operation_id), job=job, kind=OperationKind.PLANS_CREATE
    ).first()
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


def site_of_deleted_job(job_esa_id: str) -> Site | None:
    """Where a page of a job deleted from here should go: the site it was on, if we know it."""
    deleted = (
        Operation.objects.filter(target_esa_id=job_esa_id, kind=OperationKind.JOB_DELETE)
        .select_related("site")
        .first()
    )
    return deleted.site if deleted else None


__all__ = [
    "JobDetail",
    "JobRow",
    "PlanRow",
    "RefusedRow",
    "job_detail",
    "job_open_plan_drafts",
    "job_remaining_urls",
    "job_rows",
    "job_state",
    "job_unsent",
    "plan_eta",
    "plans_create_refused_rows",
    "site_job_creations",
    "site_job_list",
    "site_list",
    "site_of_deleted_job",
    "site_open_plan_windows",
]
