"""Business rules that write: mirroring ESA, and carrying out operators' operations.

Views call `operation_request`; Celery tasks call `operation_execute`, `operation_sweep` and
`esa_sync`. Nothing here is called from a web request that talks to ESA.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from prefetch_ui.esa import (
    EsaAmbiguousResultError,
    EsaClient,
    EsaError,
    EsaNotFoundError,
    EsaServerError,
    EsaThrottledError,
    EsaTransportError,
    Page,
    PlanSpec,
    parse_esa_time,
)
from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.esa import Site as EsaSite

from .models import (
    ACTIVE_OPERATION_STATUSES,
    UNFINISHED_PLAN_STATUSES,
    Job,
    Operation,
    OperationKind,
    OperationStatus,
    Plan,
    Site,
)

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser

# -- mirroring ESA ----------------------------------------------------------------------------

_SITE_FIELDS = ["name", "status", "plan_name", "coverage", "access_type", "esa_created_at", "synced_at"]
_JOB_FIELDS = [
    "site",
    "name",
    "insert_way",
    "task_type",
    "url_count",
    "url_submitted",
    "task_submitted",
    "domains",
    "error_info",
    "file_id",
    "failed_file_oss",
    "ali_uid",
    "esa_created_at",
    "execution_count",
    "synced_at",
]
_PLAN_FIELDS = ["job", "start_time", "end_time", "interval", "slice_len", "status", "ali_uid", "synced_at"]


@dataclass(slots=True)
class SyncReport:
    """What one sync cycle did, and how many ESA calls it took."""

    esa_calls: int = 0
    sites: int = 0
    jobs: int = 0
    jobs_removed: int = 0
    plan_listings: int = 0


def _site_row(site: EsaSite, now: datetime) -> Site:
    return Site(
        esa_id=site.site_id,
        name=site.site_name,
        status=site.status,
        plan_name=site.plan_name,
        coverage=site.coverage,
        access_type=site.access_type,
        esa_created_at=site.created_at,
        synced_at=now,
    )


def _job_row(job: EsaJob, site: Site, now: datetime) -> Job:
    return Job(
        esa_id=job.id,
        site=site,
        name=job.name,
        insert_way=job.insert_way,
        task_type=job.task_type,
        url_count=job.url_count,
        url_submitted=job.url_submitted,
        task_submitted=job.task_submitted,
        domains=job.domains,
        error_info=job.error_info,
        file_id=job.file_id,
        failed_file_oss=job.failed_file_oss,
        ali_uid=job.ali_uid,
        esa_created_at=job.created_at,
        execution_count=job.execution_count,
        synced_at=now,
    )


def _plan_row(plan: EsaPlan, job: Job, now: datetime) -> Plan:
    return Plan(
        esa_id=plan.id,
        job=job,
        start_time=plan.start_time,
        end_time=plan.end_time,
        interval=plan.interval,
        slice_len=plan.slice_len,
        status=plan.status,
        ali_uid=plan.ali_uid,
        synced_at=now,
    )


def _upsert[M: (Site, Job, Plan)](model: type[M], rows: list[M], fields: list[str]) -> None:
    if rows:
        model.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["esa_id"], update_fields=fields, batch_size=500
        )


def _every_page[T](fetch: Callable[[int], Page[T]], report: SyncReport) -> tuple[list[T], int]:
    """All items of a paged listing, and ESA's total; each page read counts as an ESA call.

    Stops at ESA's total rather than at the arithmetic of page sizes, so a listing that shifted
    between reads shows up as items != total (duplicates) and the caller can tell.
    """
    items: list[T] = []
    number = 1
    while True:
        page = fetch(number)
        report.esa_calls += 1
        items += page.items
        if not page.items or len(items) >= page.total_count:
            return items, page.total_count
        number += 1


def esa_sync(*, client: EsaClient, now: datetime | None = None) -> SyncReport:
    """One cycle of the mirror: all sites, all their job pages, the plans of jobs that may change.

    A job's plans are re-read when it has an unfinished plan, when ESA's plan count differs from
    ours, when its progress moved, or when they were last read more than
    `PREFETCH_SETTLED_JOB_RESYNC` seconds ago; so a cycle costs sites + job pages + active jobs.
    """
    now = now or timezone.now()
    report = SyncReport()
    esa_sites, total = _every_page(
        lambda number: client.list_sites(page_number=number, page_size=500), report
    )
    with transaction.atomic():
        _upsert(Site, [_site_row(site, now) for site in esa_sites], _SITE_FIELDS)
        if len(esa_sites) == total:
            Site.objects.exclude(esa_id__in=[site.site_id for site in esa_sites]).delete()
    report.sites = len(esa_sites)
    for site in Site.objects.all():
        _sync_site_jobs(client=client, site=site, now=now, report=report)
    return report


def _sync_site_jobs(*, client: EsaClient, site: Site, now: datetime, report: SyncReport) -> None:
    listed, total = _every_page(
        lambda number: client.list_scheduled_preload_jobs(
            site_id=site.esa_id, page_number=number, page_size=settings.PREFETCH_SYNC_JOB_PAGE_SIZE
        ),
        report,
    )
    esa_jobs = {job.id: job for job in listed}
    before = {
        job.esa_id: job
        for job in Job.objects.filter(site=site).only(
            "esa_id", "url_submitted", "execution_count", "plans_synced_at"
        )
    }
    with transaction.atomic():
        _upsert(Job, [_job_row(job, site, now) for job in esa_jobs.values()], _JOB_FIELDS)
        # Deleting what ESA no longer lists is only safe when the listing was complete: a job
        # deleted in ESA between two page reads shifts the pages and hides another one.
        if len(esa_jobs) == total:
            removed, _ = Job.objects.filter(site=site).exclude(esa_id__in=esa_jobs.keys()).delete()
            report.jobs_removed += removed
    report.jobs += len(esa_jobs)
    unfinished = set(
        Plan.objects.filter(job__site=site, status__in=UNFINISHED_PLAN_STATUSES).values_list(
            "job__esa_id", flat=True
        )
    )
    settled_before = now - timedelta(seconds=settings.PREFETCH_SETTLED_JOB_RESYNC)
    for esa_job in esa_jobs.values():
        known = before.get(esa_job.id)
        if (
            known is None
            or known.plans_synced_at is None
            or known.plans_synced_at < settled_before
            or esa_job.id in unfinished
            or known.url_submitted != esa_job.url_submitted
            or known.execution_count != esa_job.execution_count
        ):
            _sync_job_plans(client=client, job_esa_id=esa_job.id, now=now)
            report.esa_calls += 1
            report.plan_listings += 1


def _sync_job_plans(*, client: EsaClient, job_esa_id: str, now: datetime) -> None:
    try:
        plans = client.list_scheduled_preload_executions(job_esa_id).items
    except EsaNotFoundError:
        Job.objects.filter(esa_id=job_esa_id).delete()
        return
    job_plans_replace(job=Job.objects.get(esa_id=job_esa_id), plans=plans, now=now)


def job_plans_replace(*, job: Job, plans: Iterable[EsaPlan], now: datetime) -> None:
    """Make the mirror of `job`'s plans exactly ESA's list."""
    plans = list(plans)
    with transaction.atomic():
        _upsert(Plan, [_plan_row(plan, job, now) for plan in plans], _PLAN_FIELDS)
        Plan.objects.filter(job=job).exclude(esa_id__in=[plan.id for plan in plans]).delete()
        Job.objects.filter(pk=job.pk).update(plans_synced_at=now)


# -- operations -------------------------------------------------------------------------------

MAX_OPERATION_ATTEMPTS = 5
# Past these, an operation is presumed lost (its message or its worker) and is sent again.
UNDISPATCHED_AFTER = timedelta(seconds=5)
REDISPATCH_AFTER = timedelta(seconds=60)
RUNNING_STALE_AFTER = timedelta(minutes=5)

_CREATE_KINDS = {OperationKind.JOB_CREATE, OperationKind.PLANS_CREATE}
_PLAN_KINDS = {
    OperationKind.PLAN_START,
    OperationKind.PLAN_STOP,
    OperationKind.PLAN_UPDATE,
    OperationKind.PLAN_DELETE,
}


def operation_request(
    *, user: User, kind: OperationKind, target: Plan | Job, params: dict[str, object] | None = None
) -> tuple[Operation, bool]:
    """Record what an operator asked for and send it to a worker once the record is committed.

    Returns the operation and whether it is new: while one of the same kind on the same target is
    unfinished, a second request joins it instead of sending ESA a second call.
    """
    plan = target if isinstance(target, Plan) else None
    job = target.job if isinstance(target, Plan) else target
    if (plan is not None) != (kind in _PLAN_KINDS) or kind in _CREATE_KINDS:
        raise ValueError(f"{kind} does not apply to {type(target).__name__}")
    return _record_operation(
        user=user,
        kind=kind,
        target_key=target.esa_id,
        target_label=str(target) if plan is None else f"{job.name} / {plan.esa_id}",
        site=job.site,
        job=job,
        plan=plan,
        params=params or {},
    )


def job_create_request(
    *, user: User, site: Site, form_token: str, name: str, urls: list[str] | None = None, oss_url: str = ""
) -> tuple[Operation, bool]:
    """Ask a worker to create a job from checked URLs (or an OSS object); see `_create_job`."""
    if (urls is None) == (not oss_url):
        raise ValueError("give exactly one of urls or oss_url")
    params: dict[str, object] = (
        {"name": name, "urls": urls} if urls is not None else {"name": name, "oss_url": oss_url}
    )
    return _record_operation(
        user=user,
        kind=OperationKind.JOB_CREATE,
        target_key=form_token,
        target_label=name,
        site=site,
        params=params,
    )


def plans_create_request(
    *, user: User, job: Job, form_token: str, plans: dict[str, PlanSpec]
) -> tuple[Operation, bool]:
    """Ask a worker to add a batch of plans (keyed by the builder's row ids) to a job."""
    rows = [
        {
            "row": row,
            "start_time": spec.start_time.isoformat(),
            "end_time": spec.end_time.isoformat(),
            "interval": spec.interval,
            "slice_len": spec.slice_len,
        }
        for row, spec in plans.items()
    ]
    return _record_operation(
        user=user,
        kind=OperationKind.PLANS_CREATE,
        target_key=form_token,
        target_label=f"{job.name}: {len(rows)} plan(s)",
        site=job.site,
        job=job,
        params={"rows": rows},
    )


def _record_operation(
    *,
    user: User,
    kind: OperationKind,
    target_key: str,
    target_label: str,
    site: Site,
    job: Job | None = None,
    plan: Plan | None = None,
    params: dict[str, object],
) -> tuple[Operation, bool]:
    active = Operation.objects.filter(
        kind=kind, target_esa_id=target_key, status__in=ACTIVE_OPERATION_STATUSES
    )
    with transaction.atomic():
        if existing := active.first():
            return existing, False
        try:
            with transaction.atomic():
                operation = Operation.objects.create(
                    kind=kind,
                    requested_by_id=user.pk if user.is_authenticated else None,
                    target_esa_id=target_key,
                    target_label=target_label[:255],
                    site=site,
                    job=job,
                    plan=plan,
                    params=params,
                )
        except IntegrityError:
            # A concurrent click won the race for the unique active slot: join it.
            return active.get(), False
        operation_id = operation.pk
        transaction.on_commit(lambda: operation_dispatch(operation_id=operation_id))
    return operation, True


def operation_retry(*, user: User, operation: Operation) -> tuple[Operation, bool]:
    """Ask again for a failed operation's action, if its target still exists."""
    if operation.kind in _CREATE_KINDS:
        raise ValueError("a refused create is fixed and sent again from its form")
    target: Plan | Job | None = operation.plan if operation.kind in _PLAN_KINDS else operation.job
    if target is None:
        raise ValueError("the plan or job of this operation no longer exists")
    return operation_request(
        user=user, kind=OperationKind(operation.kind), target=target, params=operation.params
    )


def operation_dispatch(*, operation_id: int) -> bool:
    """Hand the operation to a worker; on a broker failure leave it pending for the sweep."""
    from .tasks import operation_execute_task

    try:
        operation_execute_task.delay(operation_id)
    except Exception:  # the broker's errors (kombu, redis, socket) have no common base
        logger.warning(
            "could not dispatch operation %s; the sweep will send it again", operation_id, exc_info=True
        )
        return False
    Operation.objects.filter(pk=operation_id, status=OperationStatus.PENDING).update(
        dispatched_at=timezone.now()
    )
    return True


def operation_sweep(
    *, now: datetime | None = None, dispatch: Callable[[int], object] | None = None
) -> list[int]:
    """Send again operations whose dispatch or worker was lost; returns their ids."""
    now = now or timezone.now()
    send = dispatch or (lambda operation_id: operation_dispatch(operation_id=operation_id))
    stale = Operation.objects.filter(status=OperationStatus.RUNNING, started_at__lt=now - RUNNING_STALE_AFTER)
    # One that keeps killing its worker does not loop forever.
    stale.filter(attempts__gte=MAX_OPERATION_ATTEMPTS).update(
        status=OperationStatus.FAILED,
        error_code="WorkerLost",
        error_message=f"No worker finished it in {MAX_OPERATION_ATTEMPTS} attempts.",
        finished_at=now,
    )
    stale.update(status=OperationStatus.PENDING, dispatched_at=None)
    lost = Operation.objects.filter(status=OperationStatus.PENDING).filter(
        Q(dispatched_at__isnull=True, created_at__lt=now - UNDISPATCHED_AFTER)
        | Q(dispatched_at__lt=now - REDISPATCH_AFTER)
    )
    ids = list(lost.values_list("pk", flat=True))
    for operation_id in ids:
        send(operation_id)
    return ids


def operation_execute(*, operation_id: int, client: EsaClient) -> Operation | None:
    """Carry out one operation against ESA and record the outcome. Safe to run twice."""
    now = timezone.now()
    claimed = Operation.objects.filter(pk=operation_id, status=OperationStatus.PENDING).update(
        status=OperationStatus.RUNNING, started_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None  # done, or another worker has it
    operation = Operation.objects.select_related("job", "plan").get(pk=operation_id)
    outcome: dict[str, object]
    try:
        request_id = _perform(operation, client)
    except (EsaThrottledError, EsaServerError, EsaTransportError) as error:
        # Creates never get here ambiguous: `_create_job` and `_create_plans` look first.
        retry = operation.attempts < MAX_OPERATION_ATTEMPTS
        outcome = _error_fields(error) | {
            "status": OperationStatus.PENDING if retry else OperationStatus.FAILED,
            "finished_at": None if retry else timezone.now(),
            "dispatched_at": None if retry else F("dispatched_at"),
        }
    except EsaError as error:
        outcome = _error_fields(error) | {"status": OperationStatus.FAILED, "finished_at": timezone.now()}
    except Exception as error:
        # A bug or a database fault, not ESA: record it rather than leave the operation running.
        # A create may have landed; its next attempt looks in ESA before sending (see _create_job).
        logger.exception("operation %s failed unexpectedly", operation_id)
        retry = operation.kind in _CREATE_KINDS and operation.attempts < MAX_OPERATION_ATTEMPTS
        outcome = {
            "error_code": type(error).__name__,
            "error_message": str(error)[:2000],
            "status": OperationStatus.PENDING if retry else OperationStatus.FAILED,
            "finished_at": None if retry else timezone.now(),
            "dispatched_at": None,
        }
    else:
        outcome = {
            "status": OperationStatus.SUCCEEDED,
            "request_id": request_id,
            "error_code": "",
            "error_message": "",
            "finished_at": timezone.now(),
        }
    # Only this worker's claim: if the sweep handed the operation to another, that one decides.
    Operation.objects.filter(pk=operation_id, status=OperationStatus.RUNNING, started_at=now).update(
        **outcome
    )
    operation.refresh_from_db()
    return operation


def _error_fields(error: EsaError) -> dict[str, object]:
    return {
        "error_code": getattr(error, "code", "") or type(error).__name__,
        "error_message": error.message[:2000],
        "request_id": getattr(error, "request_id", ""),
    }


def _perform(operation: Operation, client: EsaClient) -> str:
    """Make the ESA call and bring the mirror in line with ESA's answer; returns the RequestId."""
    now = timezone.now()
    kind = operation.kind
    target = operation.target_esa_id
    if kind in (OperationKind.PLAN_START, OperationKind.PLAN_STOP, OperationKind.PLAN_UPDATE):
        if kind == OperationKind.PLAN_START:
            answer = client.start_scheduled_preload_execution(target)
        elif kind == OperationKind.PLAN_STOP:
            answer = client.stop_scheduled_preload_execution(target)
        else:
            answer = client.update_scheduled_preload_execution(target, _plan_spec(operation.params))
        Plan.objects.filter(esa_id=target).update(
            status=answer.status,
            start_time=answer.start_time,
            end_time=answer.end_time,
            interval=answer.interval,
            slice_len=answer.slice_len,
            synced_at=now,
        )
        return answer.request_id
    if kind == OperationKind.PLAN_DELETE:
        request_id = _deleted(lambda: client.delete_scheduled_preload_execution(target))
        Plan.objects.filter(esa_id=target).delete()
        return request_id
    if kind == OperationKind.JOB_RESET:
        job = client.reset_scheduled_preload_job(target)
        Job.objects.filter(esa_id=target).update(
            url_submitted=job.url_submitted, task_submitted=job.task_submitted, synced_at=now
        )
        # Plans whose window is still open start again: read them at the next sync.
        Job.objects.filter(esa_id=target).update(plans_synced_at=None)
        return job.request_id
    if kind == OperationKind.JOB_CREATE:
        return _create_job(operation, client)
    if kind == OperationKind.PLANS_CREATE:
        return _create_plans(operation, client)
    if kind == OperationKind.JOB_DELETE:
        request_id = _deleted(lambda: client.delete_scheduled_preload_job(target))
        Job.objects.filter(esa_id=target).delete()
        return request_id
    raise ValueError(f"unknown operation kind {kind!r}")


class PlansRefusedError(EsaError):
    """ESA refused some plans of a batch (the others were created and are not sent again)."""

    code = "PlansRefused"
    request_id = ""


def _remember(operation: Operation, **facts: object) -> None:
    """Save facts in the operation's result at once (they must survive this worker)."""
    operation.result = {**operation.result, **facts}
    Operation.objects.filter(pk=operation.pk).update(result=operation.result)


# A create's answer can be lost in many ways: a timeout or reset (EsaAmbiguousResultError), a
# worker killed after ESA acted, any error after the call. So before its first send, an operation
# records what ESA already has ("before"); every later attempt first diffs ESA against that record
# and adopts what landed, and sends only what did not. The mirror is no reference for this: the
# sync may already have copied the new job or plans into it.


def _create_job(operation: Operation, client: EsaClient) -> str:
    """Create the job once, however many attempts it takes."""
    site = operation.site
    if site is None:
        raise EsaNotFoundError(status=404, code="Site.NotFound", message="The site is gone.", request_id="")
    params = operation.params
    name = str(params["name"])

    def newest_ids() -> list[str]:
        return [job.id for job in client.list_scheduled_preload_jobs(site_id=site.esa_id, page_size=50).items]

    if "jobs_before" not in operation.result:
        _remember(operation, jobs_before=newest_ids())
        created = _send_job(operation, client, site)
    else:
        before = set(operation.result["jobs_before"])
        listed = client.list_scheduled_preload_jobs(site_id=site.esa_id, page_size=50).items
        landed = [job for job in listed if job.id not in before and job.name == name]
        created = landed[0] if landed else _send_job(operation, client, site)
    now = timezone.now()
    _upsert(Job, [_job_row(created, site, now)], _JOB_FIELDS)
    job = Job.objects.get(esa_id=created.id)
    _remember(operation, job_esa_id=created.id)
    Operation.objects.filter(pk=operation.pk).update(job=job)
    return created.request_id


def _send_job(operation: Operation, client: EsaClient, site: Site) -> EsaJob:
    params = operation.params
    urls = params.get("urls")
    try:
        if isinstance(urls, list):
            return client.create_scheduled_preload_job(
                site_id=site.esa_id, name=str(params["name"]), urls=[str(url) for url in urls]
            )
        return client.create_scheduled_preload_job(
            site_id=site.esa_id, name=str(params["name"]), oss_url=str(params["oss_url"])
        )
    except EsaAmbiguousResultError as error:
        # The next attempt looks in ESA (against "jobs_before") before it sends anything.
        raise EsaTransportError(f"{error.message}; the next attempt looks in ESA first") from error


def _plan_key(
    start: datetime | None, end: datetime | None, interval: int, slice_len: int
) -> tuple[object, ...]:
    return (start, end, interval, slice_len)


def _create_plans(operation: Operation, client: EsaClient) -> str:
    """Send the rows of the batch that have no outcome yet; record each row's plan or refusal.

    Rows that ESA created are never sent again: not after a refusal of others, and not after an
    answer that was lost (a later attempt matches the plans ESA gained since "plans_before" to
    the rows first).
    """
    job = operation.job
    if job is None:
        raise EsaNotFoundError(
            status=404, code="InvalidJob.NotFound", message="The job no longer exists.", request_id=""
        )
    outcomes: dict[str, dict[str, object]] = dict(operation.result.get("rows", {}))
    specs = {
        row["row"]: PlanSpec(
            parse_esa_time(row["start_time"]),
            parse_esa_time(row["end_time"]),
            row["interval"],
            row["slice_len"],
        )
        for row in operation.params["rows"]
    }
    now = timezone.now()

    def settle(plans: list[EsaPlan], status: str, messages: list[str] | None = None) -> None:
        waiting = {row: spec for row, spec in specs.items() if row not in outcomes}
        for index, plan in enumerate(plans):
            key = _plan_key(plan.start_time, plan.end_time, plan.interval, plan.slice_len)
            row = next(
                (
                    r
                    for r, s in waiting.items()
                    if _plan_key(s.start_time, s.end_time, s.interval, s.slice_len) == key
                ),
                None,
            )
            if row is None:
                continue
            del waiting[row]
            outcome: dict[str, object] = {"status": status, "plan_id": plan.id}
            if messages is not None:
                outcome["message"] = messages[index] if index < len(messages) else "refused by ESA"
            outcomes[row] = outcome

    if "plans_before" not in operation.result:
        listed = client.list_scheduled_preload_executions(job.esa_id).items
        _remember(operation, plans_before=[plan.id for plan in listed])
    else:
        listed = client.list_scheduled_preload_executions(job.esa_id).items
        already = set(operation.result["plans_before"]) | {str(o.get("plan_id")) for o in outcomes.values()}
        settle([plan for plan in listed if plan.id not in already], "created")
        job_plans_replace(job=job, plans=listed, now=now)
        _remember(operation, rows=outcomes)
    request_id = ""
    unsent = {row: spec for row, spec in specs.items() if row not in outcomes}
    if unsent:
        try:
            answer = client.create_scheduled_preload_executions(job.esa_id, list(unsent.values()))
        except EsaAmbiguousResultError as error:
            raise EsaTransportError(f"{error.message}; the next attempt looks in ESA first") from error
        request_id = answer.request_id
        settle(answer.succeeded, "created")
        settle(answer.failed, "refused", answer.failed_messages)
        for row in unsent:
            # A refused plan ESA did not echo back still gets an outcome, never a silent resend.
            outcomes.setdefault(
                row, {"status": "refused", "message": "; ".join(answer.failed_messages) or "refused"}
            )
        _upsert(Plan, [_plan_row(plan, job, now) for plan in answer.succeeded], _PLAN_FIELDS)
        _remember(operation, rows=outcomes)
    refused = {row: outcome for row, outcome in outcomes.items() if outcome["status"] == "refused"}
    if refused:
        refusal = PlansRefusedError(
            f"ESA refused {len(refused)} of {len(outcomes)} plan(s): "
            + "; ".join(str(outcome.get("message", "")) for outcome in refused.values()),
        )
        refusal.request_id = request_id
        raise refusal
    return request_id


def _deleted(delete: Callable[[], str]) -> str:
    """A delete of something already gone has done its job (a retried delete lands here)."""
    try:
        return delete()
    except EsaNotFoundError as error:
        return error.request_id


def _plan_spec(params: dict[str, object]) -> PlanSpec:
    return PlanSpec(
        start_time=parse_esa_time(str(params["start_time"])),
        end_time=parse_esa_time(str(params["end_time"])),
        interval=int(str(params["interval"])),
        slice_len=int(str(params["slice_len"])),
    )


def site_stop_all(*, user: User, site: Site) -> list[Operation]:
    """Stop every waiting or running plan of a site (ESA has no 'stop all')."""
    plans = Plan.objects.filter(job__site=site, status__in=UNFINISHED_PLAN_STATUSES).select_related(
        "job__site"
    )
    return [operation_request(user=user, kind=OperationKind.PLAN_STOP, target=plan)[0] for plan in plans]
