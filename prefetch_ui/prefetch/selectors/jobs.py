"""Reads for the job page: one page of its plans, its facts, counts and history, and a poll's
changes of them."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from prefetch_ui.core.precompiled import PrecompiledQuery, db_datetime, precompiled_query

from ..holds import Holds, IncidentStep, holds
from ..models import (
    ACTIVE_OPERATION_STATUSES,
    Job,
    Operation,
    OperationKind,
    OperationStatus,
    Plan,
    PlanStatus,
    Site,
)
from .estimates import JobEstimate, job_estimate, site_hold
from .incident_steps import (
    RECENT_OPERATIONS_SHOWN,
    job_incident_steps,
    job_incident_steps_token,
    jobs_with_incidents_total,
)
from .job_errors import ErrorExplanation, job_error_explanations
from .mirror_age import site_read_at
from .statuses import (
    COUNTED_STATUSES,
    HELD,
    UNFINISHED_COUNTS,
    JobCounted,
    job_remaining_urls,
    plan_counts_by,
    plan_is_held,
)


@dataclass(frozen=True, slots=True)
class PlanRow:
    """A plan as the job page shows it: with its latest operation, and when an incident holds it,
    what holds it (its original window, the incident).

    What a row shows comes from its own plan's row, its operation and its hold, all of which stamp
    the plan's version when they change, and of the job only its ErrorInfo (on a failed plan),
    which the poll tracks apart (`job_errors_token`). Nothing derived from the job's progress
    belongs here: that moves on every sync cycle of an active job, and a row showing it would be
    sent again for every running plan of the page at every cycle (see `job_changes`)."""

    plan: Plan
    operation: Operation | None
    held: object | None = None  # what holds the plan (`holds().plans_held`)

    @property
    def busy(self) -> bool:
        return self.operation is not None and self.operation.is_active

    @property
    def failed_operation(self) -> Operation | None:
        if self.operation is not None and self.operation.status == OperationStatus.FAILED:
            return self.operation
        return None


def job_errors_token(job: Job) -> str:
    """A short digest of the ErrorInfo that the job page's failed plans show ("" for none): the
    poll carries the one its page shows, so that a changed ErrorInfo sends the failed rows again
    and a moved progress does not."""
    if not job.error_info:
        return ""
    return hashlib.blake2b(job.error_info.encode(), digest_size=6).hexdigest()


PLANS_PER_PAGE = 100


def job_to_poll(*, job_esa_id: str, steps: bool) -> Job | None:
    """The job alone (no site, no order) and its site's last read: a poll that finds nothing
    changed needs no more. With `steps` (the page shows unsettled incident steps), also what tells
    whether those changed (`job_incident_steps_unchanged`), in the same query: a total over the
    open incidents."""
    job = next(iter(_job_to_poll_query(holds(), connection.vendor, steps=steps).raw(esa_id=job_esa_id)), None)
    if job is not None:
        job.site_read_at = db_datetime(job.site_read_at)
    return job


# Where the job's ESA id goes in the compiled query (never a real one: ESA's are 24 hex digits).
_ESA_ID_SLOT = "job-to-poll-esa-id"


@functools.cache
def _job_to_poll_query(registered: Holds, vendor: str, *, steps: bool) -> PrecompiledQuery:
    # Compiled once: every open job page polls every few seconds, and building this query cost a
    # poll that finds nothing changed more than everything else it does (`make bench`).
    jobs = jobs_with_incidents_total() if steps else Job.objects.all()
    # And when its site was last read (`job_mirror_age`), by a join in the same query.
    found = jobs.annotate(site_read_at=site_read_at("site__")).filter(esa_id=_ESA_ID_SLOT).order_by()[:1]
    return precompiled_query(found, esa_id=_ESA_ID_SLOT)


@dataclass(frozen=True, slots=True)
class JobDetail(JobCounted):
    """A job's page: one page of its plans (of one status, if asked), its counts and operations;
    or, from `job_changes`, only the parts of it that changed."""

    job: Job
    plan_rows: list[PlanRow]
    page: Page[Plan] | None  # None from `job_changes`: its rows are only those that changed
    status: str  # the plans shown are of this status; "" for all
    operations: list[Operation]
    job_operation: Operation | None  # the latest operation on the job itself
    plan_counts: dict[str, int]
    # Something will still change by itself: a plan that will submit, or an operation under way.
    unfinished: bool
    # How its remaining URLs are shared between its open plans: when each plan's last batch goes,
    # when the last URL goes or how many have no plan (read with the facts; `job_estimate`).
    estimate: JobEstimate | None = None
    # From `job_changes`: whether the facts and counts, and the operations, changed (else they
    # were not read: `plan_counts` and `operations` are empty).
    facts_changed: bool = True
    operations_changed: bool = True
    # What incidents did to the job's plans (read with `operations`), and the token of their
    # unsettled steps (`job_incident_steps_token`) for the poll.
    incident_steps: list[IncidentStep] = field(default_factory=list)
    steps_token: str = ""

    @property
    def history(self) -> list[Operation | IncidentStep]:
        """The job's recent operations and its plans' incident steps, newest first."""
        entries: list[Operation | IncidentStep] = [*self.operations, *self.incident_steps]
        entries.sort(
            key=lambda entry: entry.created_at if isinstance(entry, Operation) else entry.at, reverse=True
        )
        return entries[:RECENT_OPERATIONS_SHOWN]

    @property
    def plan_total(self) -> int:
        return sum(self.plan_counts.values())

    @property
    def error_explanations(self) -> list[ErrorExplanation]:
        """What the job's ErrorInfo means, in words (`job_error_explanations`)."""
        return job_error_explanations(job=self.job)

    @property
    def status_counts(self) -> list[tuple[str, int]]:
        """(status, plans) for each status some plan is in (held apart), in the usual order: the
        filter's links."""
        return [
            (status, self.plan_counts[status]) for status in COUNTED_STATUSES if self.plan_counts.get(status)
        ]


def job_plans(*, job: Job, status: str = "") -> QuerySet[Plan]:
    """The job's plans in the page's order (start time), of one status if given: `HELD`, those an
    incident holds; an ESA status, those of it that no incident holds."""
    plans = Plan.objects.filter(job=job).order_by("start_time", "id")
    if status == HELD:
        return plans.filter(plan_is_held())
    return plans.filter(~plan_is_held(), status=status) if status else plans


def plan_rows(*, plans: QuerySet[Plan]) -> list[PlanRow]:
    """These plans as their job's page shows them, each with its latest operation and what holds
    it: two queries, and a third for the holds when one of them is held."""
    newest = Operation.objects.filter(plan=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    annotated = list(plans.annotate(latest_operation_id=Subquery(newest), held=plan_is_held()))
    latest = Operation.objects.in_bulk(
        [plan.latest_operation_id for plan in annotated if plan.latest_operation_id]
    )
    held = holds().plans_held([plan.esa_id for plan in annotated if plan.held])
    return [
        PlanRow(plan=plan, operation=latest.get(plan.latest_operation_id), held=held.get(plan.esa_id))
        for plan in annotated
    ]


def job_detail(
    *,
    job: Job,
    page_number: str | int | None = None,
    status: str = "",
    now: datetime | None = None,
) -> JobDetail:
    """One page of a job's plans (`PLANS_PER_PAGE`), each with its latest operation, the plan
    counts by status, the job's estimate and its recent operations: a fixed number of queries whatever
    the number of plans."""
    now = now or timezone.now()
    counts = _plan_counts(job)
    total = counts.get(status, 0) if status else sum(counts.values())
    page = _CountedPaginator(job_plans(job=job, status=status), PLANS_PER_PAGE, total).get_page(page_number)
    steps_token = job_incident_steps_token(job=job)
    rows = plan_rows(plans=cast("QuerySet[Plan]", page.object_list))
    operations = _recent_operations(job)
    job_operation = _latest_job_operation(job)
    estimate = job_site_estimate(job=job, plan_counts=counts, now=now)
    incident_steps = job_incident_steps(job=job)
    unfinished = bool(steps_token) or job_unfinished(job=job, plan_counts=counts) or _moved_since_read(job)
    return JobDetail(
        job=job,
        plan_rows=rows,
        page=page,
        status=status,
        operations=operations,
        job_operation=job_operation,
        plan_counts=counts,
        unfinished=unfinished,
        estimate=estimate,
        incident_steps=incident_steps,
        steps_token=steps_token,
    )


def job_changes(
    *,
    job: Job,
    since: int,
    page_number: int,
    status: str = "",
    steps_since: str = "",
    errors_since: str = "",
    now: datetime | None = None,
) -> JobDetail:
    """What changed since version `since` on one page of a job's plans, for a poll of a page
    whose list kept its shape (`job.layout_version` and, when filtered by status,
    `job.statuses_version` not after `since`): the rows of that page stamped after it; the facts
    and counts only if a status, the job or an operation changed; the operations only if one did.
    The operations are also sent when the token of the incidents' unsettled steps on the job's
    plans is not `steps_since`, the one the page shows (their outcomes move no version of the job).

    A change of the job's own fields sends its facts, and no row for it: a row shows nothing
    derived from the job's progress (`PlanRow`; the ETAs are facts of the job, `job_estimate`). The
    progress of an active job moves on every sync cycle, and rows showing it were all sent again
    at every cycle, though only a few plans had changed. The one value of the job that a row does
    show, the ErrorInfo of a failed plan, changes seldom: the page says which one it shows
    (`errors_since`, a `job_errors_token`), and only when that differs are the page's failed rows
    sent again. One short token from the page, not a digest per row, so the poll's URL stays
    short and the server reads no more rows than it sends. Reads only what it sends, and that
    token: two queries for a plan's row alone."""
    now = now or timezone.now()
    statuses_changed = job.statuses_version > since
    job_changed = job.row_version > since
    steps_token = job_incident_steps_token(job=job, steps_since=steps_since)
    operations_changed = job.operations_version > since or steps_token != steps_since
    facts_changed = statuses_changed or job_changed or job.operations_version > since
    counts = _plan_counts(job) if facts_changed else {}
    offset = (max(page_number, 1) - 1) * PLANS_PER_PAGE
    page_ids = job_plans(job=job, status=status).values("pk")[offset : offset + PLANS_PER_PAGE]
    changed = Q(version__gt=since)
    if job_changed and job_errors_token(job) != errors_since:
        changed |= Q(status=PlanStatus.FAILED)
    plans = job_plans(job=job, status=status).filter(changed, pk__in=page_ids)
    return JobDetail(
        job=job,
        plan_rows=plan_rows(plans=plans),
        page=None,
        status=status,
        operations=_recent_operations(job) if operations_changed else [],
        job_operation=_latest_job_operation(job) if facts_changed else None,
        plan_counts=counts,
        unfinished=_still_unfinished(
            job=job,
            counts=counts if facts_changed else None,
            anything_ended=statuses_changed or operations_changed,
            steps_token=steps_token,
        ),
        estimate=job_site_estimate(job=job, plan_counts=counts, now=now) if facts_changed else None,
        facts_changed=facts_changed,
        operations_changed=operations_changed,
        incident_steps=job_incident_steps(job=job) if operations_changed else [],
        steps_token=steps_token,
    )


def job_site_estimate(*, job: Job, plan_counts: dict[str, int], now: datetime) -> JobEstimate:
    """The job's estimate, with the hold on its site when URLs are left (as the overview reads it:
    then nothing is sent until the resume, whatever its plans would do)."""
    hold = site_hold(job.site) if job_remaining_urls(job) else None
    return job_estimate(job=job, plan_counts=plan_counts, now=now, hold=hold)


def _still_unfinished(
    *, job: Job, counts: dict[str, int] | None, anything_ended: bool, steps_token: str
) -> bool:
    """For a poll: whether the job's page will still change by itself. With an incident's step
    unsettled on its plans, yes; with no status, operation or step changed, it is as unfinished
    as the page that polls."""
    if steps_token:
        return True
    if not anything_ended:
        return True
    return job_unfinished(job=job, plan_counts=_plan_counts(job) if counts is None else counts) or (
        _moved_since_read(job)
    )


def _moved_since_read(job: Job) -> bool:
    """Whether anything on the job's page changed since `job` (its version) was read. Asked last,
    when everything else read says nothing is unfinished: that decision stops the page's poll for
    good, and the reads it rests on are separate queries, each of its own moment. A create that
    finishes while the page is drawn can be read half-way (its plans counted before they landed,
    its operation checked after it succeeded: no plan, nothing under way, so no poll, and the page
    said "This job has no plans" until reloaded, issue 20). If the job moved meanwhile, the page
    polls on, and its next poll, asking from the version read first, gets the page as it is."""
    return Job.objects.filter(pk=job.pk, version__gt=job.version).exists()


def job_plan_counts(*, job: Job) -> dict[str, int]:
    """The job's plans by status, held ones counted apart: one query."""
    return _plan_counts(job)


def _plan_counts(job: Job) -> dict[str, int]:
    return plan_counts_by(Plan.objects.filter(job=job), "job_id").get(job.pk, {})


def job_operations(*, job: Job) -> QuerySet[Operation]:
    """The operations on the job and its plans, newest first, each with who asked for it."""
    return Operation.objects.filter(job=job).select_related("requested_by").order_by("-created_at", "-id")


def _recent_operations(job: Job, shown: int = RECENT_OPERATIONS_SHOWN) -> list[Operation]:
    return list(job_operations(job=job)[:shown])


def _latest_job_operation(job: Job) -> Operation | None:
    return Operation.objects.filter(job=job, plan__isnull=True).order_by("-created_at", "-id").first()


def job_unfinished(*, job: Job, plan_counts: dict[str, int]) -> bool:
    """Whether anything on the job's page will still change by itself: a plan that will submit,
    or is held to; or an operation on the job or one of its plans under way (one query, only if
    no plan will)."""
    if any(plan_counts.get(status) for status in UNFINISHED_COUNTS):
        return True
    return Operation.objects.filter(job=job, status__in=ACTIVE_OPERATION_STATUSES).exists()


class _CountedPaginator(Paginator[Plan]):
    """A paginator told its count: the page's counts by status already say it, no COUNT query."""

    def __init__(self, object_list: QuerySet[Plan], per_page: int, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @property
    def count(self) -> int:
        return self._known_count


def site_of_deleted_job(job_esa_id: str) -> Site | None:
    """Where a page of a job deleted from here should go: the site it was on, if we know it."""
    deleted = (
        Operation.objects.filter(target_esa_id=job_esa_id, kind=OperationKind.JOB_DELETE)
        .select_related("site")
        .first()
    )
    return deleted.site if deleted else None
