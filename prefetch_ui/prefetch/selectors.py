"""Reads for the pages: the mirror shaped for display, in a fixed number of queries."""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    Exists,
    FloatField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from prefetch_ui.planning.plan_math import PlanDraft, Window

from .holds import Holds, IncidentStep, holds
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
# Not an ESA status: a plan an open incident holds now (parked a year ahead, stopped by the hold,
# or about to be). ESA calls it waiting or stopped, which tells a lead nothing, so pages count it
# as held, apart from ESA's statuses, and show it at its original window.
HELD = "held"
# What pages count plans by and filter them by: ESA's statuses, and held.
COUNTED_STATUSES = [*STATUS_ORDER, HELD]
# Counts that will still change by themselves: a held plan goes back when its incident resumes.
UNFINISHED_COUNTS = (*UNFINISHED_PLAN_STATUSES, HELD)


def plan_is_held() -> Exists | Value:
    """Whether an open incident holds the plan now (`incidents.models.holding_now`), as an
    expression over plans: to count, filter or annotate them in the same query."""
    return holds().plan_held(OuterRef("esa_id"))


def plan_counts_by(plans: QuerySet[Plan], field: str) -> dict[Any, dict[str, int]]:
    """`plans` counted by `field` (a job's or a site's id) and by status, a held plan as `HELD`
    whatever ESA calls it: one query."""
    counts: dict[Any, dict[str, int]] = {}
    grouped = (
        plans.annotate(held=plan_is_held()).values_list(field, "status", "held").annotate(count=Count("id"))
    ).order_by()
    for key, status, held, count in grouped:
        by_status = counts.setdefault(key, {})
        counted = HELD if held else status
        by_status[counted] = by_status.get(counted, 0) + count
    return counts


def job_remaining_urls(job: Job) -> int:
    """The job's URLs that ESA has not submitted yet."""
    return max(0, job.url_count - job.url_submitted)


def job_state(job: Job, plan_counts: dict[str, int]) -> str:
    """One word for where a job stands, for its badge and progress bar.

    `running` or `waiting` while a plan will still submit, `held` while an incident holds the
    plans that would; then `done` when every URL went out,
    `failed` when a plan failed (or ESA took no URL at all and said why in ErrorInfo), and
    `unsent` when the plans finished or stopped with URLs left.
    """
    for status in (PlanStatus.RUNNING, PlanStatus.WAITING, HELD):
        if plan_counts.get(status):
            return str(status)
    if not job.url_count and job.error_info:
        return "failed"
    if not job_remaining_urls(job):
        return "done"
    return "failed" if plan_counts.get(PlanStatus.FAILED) else "unsent"


def job_unsent(job: Job, plan_counts: dict[str, int]) -> int:
    """URLs no plan of the job will submit any more: it settled with them left (0 while one will,
    or is held to)."""
    if any(plan_counts.get(status) for status in UNFINISHED_COUNTS):
        return 0
    return job_remaining_urls(job)


# How old the mirror of a site may get before its pages say so: three sync periods, and never
# under a minute, so that one slow cycle (a large estate takes a few periods) raises no note.
MIRROR_STALE_FLOOR_SECONDS = 60.0


def mirror_stale_after() -> timedelta:
    """How long after the last read of a site's jobs its pages say the sync is behind."""
    return timedelta(seconds=max(MIRROR_STALE_FLOOR_SECONDS, 3 * settings.PREFETCH_SYNC_PERIOD))


def site_read_at(prefix: str = "") -> Coalesce:
    """When the sync last read the site's jobs from ESA (`Site.jobs_read_at`) or, for a site whose
    jobs it never read, when its own row was last written (it was read then): an expression over
    sites, or with `prefix` ("site__") over rows that name a site."""
    return Coalesce(f"{prefix}jobs_read_at", f"{prefix}synced_at")


@dataclass(frozen=True, slots=True)
class MirrorAge:
    """How old what a page shows of the mirror is, when the sync is behind on some site it shows
    (none when every one was read within `mirror_stale_after`)."""

    read_at: datetime  # the oldest last read of the sites shown
    minutes: int  # since then, whole
    sites_behind: int
    sites_shown: int

    @property
    def ago(self) -> str:
        """ "4 min", "2 h 5 min": as the note says it."""
        hours, minutes = divmod(self.minutes, 60)
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"

    @property
    def token(self) -> str:
        """What the note says, in short: a poll whose page shows another token gets the note."""
        return f"{self.minutes}m{self.sites_behind}of{self.sites_shown}"


def mirror_age(*, read_times: Collection[datetime | None], now: datetime) -> MirrorAge | None:
    """The age of a page's mirror from the last reads of the sites it shows (`site_read_at`); None
    while the sync keeps up with every one. No query."""
    limit = now - mirror_stale_after()
    behind = [read_at for read_at in read_times if read_at is not None and read_at < limit]
    if not behind:
        return None
    oldest = min(behind)
    return MirrorAge(
        read_at=oldest,
        minutes=int((now - oldest).total_seconds() // 60),
        sites_behind=len(behind),
        sites_shown=len(read_times),
    )


def sites_mirror_age(
    *, site_ids: Collection[int] | None = None, now: datetime | None = None
) -> MirrorAge | None:
    """The age of the mirror of every site (or of `site_ids`) when the sync is behind: one query."""
    sites = Site.objects.annotate(read_at=site_read_at()).values_list("read_at", flat=True)
    if site_ids is not None:
        sites = sites.filter(pk__in=site_ids)
    return mirror_age(read_times=list(sites), now=now or timezone.now())


def site_mirror_age(*, site: Site, now: datetime | None = None) -> MirrorAge | None:
    """The age of the mirror of one site, read from its row: no query."""
    return listed_sites_mirror_age(sites=[site], now=now)


def listed_sites_mirror_age(*, sites: Collection[Site], now: datetime | None = None) -> MirrorAge | None:
    """The age of the mirror of these sites, read from their rows (`site_list`'s): no query."""
    read_times = [site.jobs_read_at or site.synced_at for site in sites]
    return mirror_age(read_times=read_times, now=now or timezone.now())


def job_mirror_age(*, job: Job, now: datetime | None = None) -> MirrorAge | None:
    """The age of the mirror of the job's site: no query for a job from `job_to_poll`, which read
    its site's last read with it; else its site's row."""
    read_at = getattr(job, "site_read_at", None)
    if read_at is None:
        return site_mirror_age(site=job.site, now=now)
    return mirror_age(read_times=[read_at], now=now or timezone.now())


def sites_version(*, site_ids: Collection[int] | None = None, now: datetime | None = None) -> str:
    """One token for a page that shows several sites together (all, or `site_ids`): a short digest
    of their change versions, so it changes when anything on any of them does, and a site comes
    or goes. With `now`, it also changes every minute, for a page that shows times relative to it
    ("in 59 minutes", late, the now-line). It also changes when what the page's note of the
    mirror's age says does (`MirrorAge.token`), though the last reads move no version. One query;
    read it before the page's data."""
    sites = (
        Site.objects.order_by("pk").annotate(read_at=site_read_at()).values_list("pk", "version", "read_at")
    )
    if site_ids is not None:
        sites = sites.filter(pk__in=site_ids)
    rows = list(sites)
    digest = hashlib.blake2b(
        repr([(pk, version) for pk, version, _ in rows]).encode(), digest_size=8
    ).hexdigest()
    age = mirror_age(read_times=[read_at for _, _, read_at in rows], now=now or timezone.now())
    if age is not None:
        digest = f"{digest}-{age.token}"
    return digest if now is None else f"{digest}-{int(now.timestamp()) // 60}"


def site_list() -> QuerySet[Site]:
    """Every site with its job count and plan counts by status (`plans_<status>`), held plans
    counted apart (`plans_held`)."""
    held = Q(holds().plan_held(OuterRef("jobs__plans__esa_id")))
    plan_counts = {
        f"plans_{status}": Count("jobs__plans", filter=Q(jobs__plans__status=status) & ~held)
        for status in STATUS_ORDER
    }
    plan_counts[f"plans_{HELD}"] = Count("jobs__plans", filter=held)
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
        return any(self.plan_counts.get(status, 0) for status in UNFINISHED_COUNTS)

    @property
    def state(self) -> str:
        return job_state(self.job, self.plan_counts)

    @property
    def unsent(self) -> int:
        return job_unsent(self.job, self.plan_counts)


def job_rows(jobs: Iterable[Job]) -> list[JobRow]:
    """The given jobs with their plan counts by status, in one query for all of them."""
    jobs = list(jobs)
    counts = _plan_counts_by_job([job.pk for job in jobs])
    return [JobRow(job=job, plan_counts=counts.get(job.pk, {})) for job in jobs]


@dataclass(frozen=True, slots=True)
class SiteJobChanges:
    """The rows of one page of a site's jobs that changed since a version, and whether anything
    on that page will still change by itself."""

    rows: list[JobRow]
    unfinished: bool


def site_job_changes(
    *, site: Site, jobs: QuerySet[Job], since: int, page_number: int, per_page: int
) -> SiteJobChanges:
    """The jobs of one page of `jobs` (a `site_job_list`) stamped after version `since`, with
    their plan counts, for a poll of a site page whose list kept its shape, and whether anything
    on the page will still change by itself. Reads the changed jobs, and only if there are any,
    the plan counts of the page's jobs (and, if none of them has a plan to submit, whether a job
    is being created)."""
    offset = (max(page_number, 1) - 1) * per_page
    page_ids = jobs.values("pk")[offset : offset + per_page]
    changed = list(jobs.filter(version__gt=since, pk__in=page_ids))
    if not changed:
        # Its rows and its list as they were: as unfinished as the page that polls.
        return SiteJobChanges(rows=[], unfinished=True)
    counts = _plan_counts_by_job(page_ids)
    unfinished = any(
        counts.get(job_id, {}).get(status) for job_id in counts for status in UNFINISHED_COUNTS
    ) or (
        Operation.objects.filter(
            site=site, kind=OperationKind.JOB_CREATE, status__in=ACTIVE_OPERATION_STATUSES
        ).exists()
    )
    return SiteJobChanges(
        rows=[JobRow(job=job, plan_counts=counts.get(job.pk, {})) for job in changed], unfinished=unfinished
    )


def _plan_counts_by_job(job_ids: Iterable[int] | QuerySet[Any]) -> dict[int, dict[str, int]]:
    """Plans by status (held apart) for each of these jobs, in one query."""
    return plan_counts_by(Plan.objects.filter(job_id__in=job_ids), "job_id")


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


@dataclass(frozen=True, slots=True)
class JobEta:
    """When the job's running plans, together at their pace, will have submitted its remaining
    URLs: one fact of the job, not one per plan row (a running plan's row would otherwise change
    with the job's progress; `PlanRow`)."""

    at: datetime
    running: int  # plans sending now (those an incident holds are not)
    after_last_end: bool  # later than the last of them ends: some URLs would be left unsent


def job_eta(*, job: Job, now: datetime) -> JobEta | None:
    """When the job's running plans will have submitted its remaining URLs (None when none is
    left or no plan is running): each sends `slice_len` URLs every `interval` seconds, the
    first batch of each now. One query."""
    remaining = job_remaining_urls(job)
    if not remaining:
        return None
    running = (
        Plan.objects.filter(job=job, status=PlanStatus.RUNNING, slice_len__gt=0, interval__gt=0)
        .exclude(plan_is_held())
        .aggregate(
            plans=Count("id"),
            first_batches=Sum("slice_len"),
            per_second=Sum(Cast("slice_len", FloatField()) / Cast("interval", FloatField())),
            last_end=Max("end_time"),
        )
    )
    if not running["plans"]:
        return None
    after_first = max(0, remaining - running["first_batches"])
    at = now + timedelta(seconds=math.ceil(after_first / running["per_second"]))
    last_end = running["last_end"]
    return JobEta(at=at, running=running["plans"], after_last_end=last_end is not None and at > last_end)


def job_errors_token(job: Job) -> str:
    """A short digest of the ErrorInfo that the job page's failed plans show ("" for none): the
    poll carries the one its page shows, so that a changed ErrorInfo sends the failed rows again
    and a moved progress does not."""
    if not job.error_info:
        return ""
    return hashlib.blake2b(job.error_info.encode(), digest_size=6).hexdigest()


PLANS_PER_PAGE = 100
# How many entries the job page's "Recent operations" shows: its operations and incidents' steps.
RECENT_OPERATIONS_SHOWN = 10


def job_incident_steps(*, job: Job, shown: int = RECENT_OPERATIONS_SHOWN) -> list[IncidentStep]:
    """What incidents did to the job's plans (see `IncidentStep`), newest first: one query (the
    registered holds read it)."""
    return holds().job_steps(job, shown)


def _incidents_digest(job: Job) -> str:
    """The open incidents on the job's site, as a few digits ("" when there are none): read with
    the job by `job_to_poll(steps=True)`, else in one query of the incidents."""
    return holds().job_steps_digest(job)


def job_incident_steps_token(*, job: Job, steps_since: str = "") -> str:
    """While an open incident's step on the job's plans is unsettled, a token that changes when any
    step of those incidents does ("" when none is): the job page's poll carries it, since a step's
    outcome is written after ESA's answer reached the mirror (which moved the job's version) and
    moves no version of the job itself. `steps_since`: the token the page shows. No query for a job
    from `job_to_poll(steps=True)` whose incidents did not change; else at most two, none of
    which reads more than the incidents and whether the job has an unsettled step."""
    digest = _incidents_digest(job)
    if not digest or digest == steps_since:
        return digest  # none; or none of their steps changed, so this job's are still unsettled
    return digest if holds().job_steps_unsettled(job) else ""


def job_incident_steps_unchanged(*, job: Job, steps_since: str) -> bool:
    """Whether no step of the open incidents on the job's site changed since the page's token
    (for a job from `job_to_poll(steps=True)`: no query)."""
    return _incidents_digest(job) == steps_since


def job_to_poll(*, job_esa_id: str, steps: bool) -> Job | None:
    """The job alone (no site, no order) and its site's last read: a poll that finds nothing
    changed needs no more. With `steps` (the page shows unsettled incident steps), also what tells
    whether those changed (`job_incident_steps_unchanged`), in the same query: a total over the
    open incidents."""
    jobs = _jobs_with_incidents_total(holds()) if steps else Job.objects.all()
    # And when its site was last read (`job_mirror_age`), by a join in the same query.
    return jobs.annotate(site_read_at=site_read_at("site__")).filter(esa_id=job_esa_id).order_by().first()


@functools.cache
def _jobs_with_incidents_total(registered: Holds) -> QuerySet[Job]:
    # Built once (per registered holds): resolving a subquery costs a poll more than running it
    # (never evaluated itself, only cloned by `filter`).
    return Job.objects.annotate(steps_incidents=registered.job_steps_total(OuterRef("site_id")))


@dataclass(frozen=True, slots=True)
class JobDetail:
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
    # When the running plans will have sent the remaining URLs (read with the facts).
    eta: JobEta | None = None
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
    def status_counts(self) -> list[tuple[str, int]]:
        """(status, plans) for each status some plan is in (held apart), in the usual order: the
        filter's links."""
        return [
            (status, self.plan_counts[status]) for status in COUNTED_STATUSES if self.plan_counts.get(status)
        ]

    @property
    def state(self) -> str:
        return job_state(self.job, self.plan_counts)

    @property
    def unsent(self) -> int:
        return job_unsent(self.job, self.plan_counts)


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
    counts by status, the job's ETA and its recent operations: a fixed number of queries whatever
    the number of plans."""
    now = now or timezone.now()
    counts = _plan_counts(job)
    total = counts.get(status, 0) if status else sum(counts.values())
    page = _CountedPaginator(job_plans(job=job, status=status), PLANS_PER_PAGE, total).get_page(page_number)
    steps_token = job_incident_steps_token(job=job)
    return JobDetail(
        job=job,
        plan_rows=plan_rows(plans=cast("QuerySet[Plan]", page.object_list)),
        page=page,
        status=status,
        operations=_recent_operations(job),
        job_operation=_latest_job_operation(job),
        plan_counts=counts,
        unfinished=bool(steps_token) or job_unfinished(job=job, plan_counts=counts),
        eta=job_eta(job=job, now=now) if counts.get(PlanStatus.RUNNING) else None,
        incident_steps=job_incident_steps(job=job),
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
    derived from the job's progress (`PlanRow`; the ETA is a fact of the job, `job_eta`). The
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
        eta=job_eta(job=job, now=now) if counts.get(PlanStatus.RUNNING) else None,
        facts_changed=facts_changed,
        operations_changed=operations_changed,
        incident_steps=job_incident_steps(job=job) if operations_changed else [],
        steps_token=steps_token,
    )


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
    return job_unfinished(job=job, plan_counts=_plan_counts(job) if counts is None else counts)


def _plan_counts(job: Job) -> dict[str, int]:
    return plan_counts_by(Plan.objects.filter(job=job), "job_id").get(job.pk, {})


def _recent_operations(job: Job, shown: int = RECENT_OPERATIONS_SHOWN) -> list[Operation]:
    operations = Operation.objects.filter(job=job).select_related("requested_by")
    return list(operations.order_by("-created_at", "-id")[:shown])


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
    "COUNTED_STATUSES",
    "HELD",
    "PLANS_PER_PAGE",
    "RECENT_OPERATIONS_SHOWN",
    "UNFINISHED_COUNTS",
    "IncidentStep",
    "JobDetail",
    "JobEta",
    "JobRow",
    "MirrorAge",
    "PlanRow",
    "RefusedRow",
    "SiteJobChanges",
    "job_changes",
    "job_detail",
    "job_errors_token",
    "job_eta",
    "job_incident_steps",
    "job_incident_steps_token",
    "job_incident_steps_unchanged",
    "job_mirror_age",
    "job_open_plan_drafts",
    "job_plans",
    "job_remaining_urls",
    "job_rows",
    "job_state",
    "job_to_poll",
    "job_unfinished",
    "job_unsent",
    "listed_sites_mirror_age",
    "mirror_age",
    "mirror_stale_after",
    "plan_counts_by",
    "plan_is_held",
    "plan_rows",
    "plans_create_refused_rows",
    "site_job_changes",
    "site_job_creations",
    "site_job_list",
    "site_list",
    "site_mirror_age",
    "site_of_deleted_job",
    "site_open_plan_windows",
    "site_read_at",
    "sites_mirror_age",
    "sites_version",
]
