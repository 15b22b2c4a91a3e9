"""The operations outbox: what operators ask for, carried out by Celery workers against ESA.

Views call `operation_request`; tasks call `operation_execute` and `operation_sweep`. Each
operation row is both the audit record and the outbox entry (NetBox style): a task moves it
`pending → running → succeeded | failed` with conditional updates, so a redelivered task does
nothing twice. Each kind of operation has one handler that makes the ESA call and writes ESA's
answer into the mirror.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from prefetch_ui.dispatch import dispatch_after_commit, task_send
from prefetch_ui.esa import (
    EsaClient,
    EsaError,
    EsaNotFoundError,
    EsaServerError,
    EsaThrottledError,
    EsaTransportError,
    PlanSpec,
    parse_esa_time,
)
from prefetch_ui.esa import Plan as EsaPlan

from ..holds import holds
from ..models import (
    ACTIVE_OPERATION_STATUSES,
    ESA_REQUEST_ID_LENGTH,
    Job,
    Operation,
    OperationKind,
    OperationStatus,
    Plan,
    Site,
)
from ..plan_changes import plan_settings
from ..tasks import operation_execute_task
from .changes import operation_changes
from .errors import OperationFailedError, RetryLaterError
from .mirror_writes import job_forget, jobs_upsert, plan_answer_mirror, plan_forget

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser
# Makes the ESA call of one operation and writes ESA's answer into the mirror; returns the RequestId.
Handler = Callable[[Operation, EsaClient], str]

MAX_OPERATION_ATTEMPTS = 5
# Past these, an operation is presumed lost (its message or its worker) and is sent again.
UNDISPATCHED_AFTER = timedelta(seconds=5)
REDISPATCH_AFTER = timedelta(seconds=60)
RUNNING_STALE_AFTER = timedelta(minutes=5)

CREATE_KINDS = frozenset({OperationKind.JOB_CREATE, OperationKind.PLANS_CREATE})
PLAN_KINDS = frozenset(
    {OperationKind.PLAN_START, OperationKind.PLAN_STOP, OperationKind.PLAN_UPDATE, OperationKind.PLAN_DELETE}
)
# ESA errors that say "not now" rather than "no": the operation is tried again.
_TRANSIENT_ESA_ERRORS = (EsaThrottledError, EsaServerError, EsaTransportError)


def operation_request(
    *,
    user: User,
    kind: OperationKind,
    target: Plan | Job,
    params: dict[str, object] | None = None,
    via: str = "",
) -> tuple[Operation, bool]:
    """Record what an operator asked of a plan or a job, and send it to a worker once committed.

    Returns the operation and whether it is new: while one of the same kind on the same target is
    unfinished, a second request joins it instead of sending ESA a second call. `via`: who asked
    when not `user` on a page ("token NAME of USER"), as the audit log shows it.
    """
    plan = target if isinstance(target, Plan) else None
    job = target.job if isinstance(target, Plan) else target
    if (plan is not None) != (kind in PLAN_KINDS) or kind in CREATE_KINDS:
        raise ValueError(f"{kind} does not apply to {type(target).__name__}")
    return operation_record(
        user=user,
        kind=kind,
        target_key=target.esa_id,
        target_label=job.name if plan is None else f"{job.name} / plan …{plan.short_id}",
        site=job.site,
        job=job,
        plan=plan,
        params=params or {},
        via=via,
    )


def operation_record(
    *,
    user: User,
    kind: OperationKind,
    target_key: str,
    target_label: str,
    site: Site,
    job: Job | None = None,
    plan: Plan | None = None,
    params: dict[str, object],
    via: str = "",
) -> tuple[Operation, bool]:
    """Insert the operation, or join the unfinished one of the same kind on the same target."""
    active = Operation.objects.filter(
        kind=kind, target_esa_id=target_key, status__in=ACTIVE_OPERATION_STATUSES
    )
    with transaction.atomic():
        if existing := active.first():
            return existing, False
        operation_changes(
            site_id=site.pk,
            job_id=job.pk if job else None,
            plan_id=plan.pk if plan else None,
            job_creation=kind == OperationKind.JOB_CREATE,
        )
        if kind == OperationKind.PLAN_UPDATE and plan is not None:
            # What the update will change from: the mirror as it is now, read after the site's
            # version was taken, so no sync can write the plan between this read and the insert.
            params = params | {"before": _plan_as_it_is(plan.pk)}
        try:
            with transaction.atomic():
                operation = Operation.objects.create(
                    kind=kind,
                    requested_by_id=user.pk if user.is_authenticated else None,
                    requested_via=via[:255],
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
        dispatch_after_commit(
            operation_execute_task,
            (operation_id,),
            what=f"operation {operation_id}",
            sent=lambda: _dispatched(operation_id),
        )
    logger.info(
        "operation %s requested: %s on %s by %s",
        operation_id,
        kind,
        target_key,
        user.get_username() or "-",
        extra={"operation_id": operation_id, "operation_kind": str(kind)},
    )
    return operation, True


def _plan_as_it_is(plan_id: int) -> dict[str, object] | None:
    row = Plan.objects.filter(pk=plan_id).values("start_time", "end_time", "interval", "slice_len").first()
    return plan_settings(**row) if row is not None else None


# The actions a hold refuses on its sites: each would have a plan send URLs there.
HOLD_REFUSED_KINDS = frozenset({OperationKind.PLAN_START, OperationKind.JOB_RESET})


class OperationHeld(ValueError):
    """A retry of an action a hold refuses (a start or a reset on a held site): nothing is sent."""


def operation_retry(*, user: User, operation: Operation, via: str = "") -> tuple[Operation, bool]:
    """Ask again for a failed operation's action, if its target still exists and no hold refuses it
    (OperationHeld, whose message is the hold's refusal)."""
    if operation.status != OperationStatus.FAILED:
        raise ValueError("only a failed operation can be retried")
    if operation.kind in CREATE_KINDS:
        raise ValueError("a refused create is fixed and sent again from its form")
    target: Plan | Job | None = operation.plan if operation.kind in PLAN_KINDS else operation.job
    if target is None:
        raise ValueError("the plan or job of this operation no longer exists")
    site = target.job.site if isinstance(target, Plan) else target.site
    if operation.kind in HOLD_REFUSED_KINDS and (refusal := holds().hold_refusal(site)):
        raise OperationHeld(refusal)
    return operation_request(
        user=user, kind=OperationKind(operation.kind), target=target, params=operation.params, via=via
    )


def operation_dispatch(*, operation_id: int) -> bool:
    """Hand the operation to a worker; on a broker failure leave it pending for the sweep."""
    if not task_send(operation_execute_task, (operation_id,), what=f"operation {operation_id}"):
        return False
    _dispatched(operation_id)
    return True


def _dispatched(operation_id: int) -> None:
    Operation.objects.filter(pk=operation_id, status=OperationStatus.PENDING).update(
        dispatched_at=timezone.now()
    )


def operation_sweep(
    *, now: datetime | None = None, dispatch: Callable[[int], object] | None = None
) -> list[int]:
    """Send again operations whose dispatch or worker was lost; returns their ids."""
    now = now or timezone.now()
    send = dispatch or (lambda operation_id: operation_dispatch(operation_id=operation_id))
    stale = Operation.objects.filter(status=OperationStatus.RUNNING, started_at__lt=now - RUNNING_STALE_AFTER)
    for operation in stale.only("pk", "kind", "site_id", "job_id", "plan_id", "attempts"):
        if operation.attempts >= MAX_OPERATION_ATTEMPTS:
            # One that keeps killing its worker does not loop forever.
            _operation_write(
                operation,
                stale,
                status=OperationStatus.FAILED,
                error_code="WorkerLost",
                error_message=f"No worker finished it in {MAX_OPERATION_ATTEMPTS} attempts.",
                finished_at=now,
            )
        else:
            _operation_write(operation, stale, status=OperationStatus.PENDING, dispatched_at=None)
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
    operation = Operation.objects.select_related("site", "job", "plan").filter(pk=operation_id).first()
    if operation is None or operation.status != OperationStatus.PENDING:
        return None  # done, or another worker has it
    claimed = _operation_write(
        operation,
        Operation.objects.filter(status=OperationStatus.PENDING),
        status=OperationStatus.RUNNING,
        started_at=now,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None  # another worker was quicker
    operation.refresh_from_db(fields=["status", "started_at", "attempts"])
    try:
        try:
            request_id = _handler(operation.kind)(operation, client)
        except _TRANSIENT_ESA_ERRORS as error:
            raise RetryLaterError.from_esa(error) from error
        except EsaError as error:
            raise OperationFailedError.from_esa(error) from error
    except RetryLaterError as error:
        outcome = _retry_or_fail(operation, error.fields())
    except OperationFailedError as error:
        outcome = error.fields() | {"status": OperationStatus.FAILED, "finished_at": timezone.now()}
    except Exception as error:
        # A bug or a database fault, not ESA: record it rather than leave the operation running.
        # A create may have landed; its next attempt looks in ESA before sending (see `creates`).
        logger.exception("operation %s failed unexpectedly", operation_id)
        fields: dict[str, object] = {"error_code": type(error).__name__, "error_message": str(error)[:2000]}
        if operation.kind in CREATE_KINDS:
            outcome = _retry_or_fail(operation, fields)
        else:
            outcome = fields | {"status": OperationStatus.FAILED, "finished_at": timezone.now()}
    else:
        outcome = {
            "status": OperationStatus.SUCCEEDED,
            "request_id": request_id[:ESA_REQUEST_ID_LENGTH],
            "error_code": "",
            "error_message": "",
            "finished_at": timezone.now(),
        }
    # Only this worker's claim: if the sweep handed the operation to another, that one decides.
    _operation_write(
        operation, Operation.objects.filter(status=OperationStatus.RUNNING, started_at=now), **outcome
    )
    logger.info(
        "operation %s (%s on %s): %s %s",
        operation_id,
        operation.kind,
        operation.target_esa_id,
        outcome["status"],
        outcome.get("error_code") or f"RequestId {outcome.get('request_id') or '-'}",
        extra={"operation_id": operation_id, "operation_kind": operation.kind},
    )
    operation.refresh_from_db()
    return operation


def _operation_write(operation: Operation, where: QuerySet[Operation], **fields: object) -> int:
    """Update the operation's row if it is still in `where` (a conditional update), as a change of
    what pages show: its plan's row and its job's page (the site page for a job being created)
    hear of it. One transaction, which takes the site's change version first as every writer does."""
    if operation.site_id is None:
        return where.filter(pk=operation.pk).update(**fields)
    with transaction.atomic():
        operation_changes(
            site_id=operation.site_id,
            job_id=operation.job_id,
            plan_id=operation.plan_id,
            job_creation=operation.kind == OperationKind.JOB_CREATE,
        )
        return where.filter(pk=operation.pk).update(**fields)


def _retry_or_fail(operation: Operation, fields: dict[str, object]) -> dict[str, object]:
    """Back to pending for the sweep to send again, unless the attempts are used up."""
    if operation.attempts < MAX_OPERATION_ATTEMPTS:
        return fields | {"status": OperationStatus.PENDING, "finished_at": None, "dispatched_at": None}
    return fields | {"status": OperationStatus.FAILED, "finished_at": timezone.now()}


# -- the handlers: one per kind of operation ----------------------------------------------------


def _plan_spec(params: dict[str, object]) -> PlanSpec:
    return PlanSpec(
        start_time=parse_esa_time(str(params["start_time"])),
        end_time=parse_esa_time(str(params["end_time"])),
        interval=int(str(params["interval"])),
        slice_len=int(str(params["slice_len"])),
    )


def _plan_changed(call: Callable[[EsaClient, Operation], EsaPlan]) -> Handler:
    """A handler whose ESA call answers with the plan as it now is: that goes into the mirror."""

    def handle(operation: Operation, client: EsaClient) -> str:
        answer = call(client, operation)
        plan_answer_mirror(plan=answer, now=timezone.now())
        return answer.request_id

    return handle


def _plan_update(operation: Operation, client: EsaClient) -> str:
    """The update; ESA's answer is the plan as it now is: into the mirror, and into the operation's
    result as what the update changed the plan to (`after`, which the audit log compares with `before`)."""
    answer = client.update_scheduled_preload_execution(operation.target_esa_id, _plan_spec(operation.params))
    plan_answer_mirror(plan=answer, now=timezone.now())
    after = plan_settings(
        start_time=answer.start_time,
        end_time=answer.end_time,
        interval=answer.interval,
        slice_len=answer.slice_len,
    )
    operation.result = {**operation.result, "after": after}
    Operation.objects.filter(pk=operation.pk).update(result=operation.result)
    return answer.request_id


def _deleted(delete: Callable[[EsaClient, str], str], forget: Callable[..., None]) -> Handler:
    """A delete handler; deleting what is already gone has done its job (a retried delete)."""

    def handle(operation: Operation, client: EsaClient) -> str:
        try:
            request_id = delete(client, operation.target_esa_id)
        except EsaNotFoundError as error:
            request_id = error.request_id
        forget(esa_id=operation.target_esa_id)
        return request_id

    return handle


def _job_reset(operation: Operation, client: EsaClient) -> str:
    answer = client.reset_scheduled_preload_job(operation.target_esa_id)
    job = Job.objects.select_related("site").filter(esa_id=answer.id).first()
    if job is not None:
        jobs_upsert(site=job.site, jobs=[answer], now=timezone.now())
        # Plans whose window is still open start again: read them at the next sync.
        Job.objects.filter(pk=job.pk).update(plans_synced_at=None)
    return answer.request_id


_HANDLERS: dict[str, Handler] = {
    OperationKind.PLAN_START: _plan_changed(
        lambda client, operation: client.start_scheduled_preload_execution(operation.target_esa_id)
    ),
    OperationKind.PLAN_STOP: _plan_changed(
        lambda client, operation: client.stop_scheduled_preload_execution(operation.target_esa_id)
    ),
    OperationKind.PLAN_UPDATE: _plan_update,
    OperationKind.PLAN_DELETE: _deleted(EsaClient.delete_scheduled_preload_execution, plan_forget),
    OperationKind.JOB_RESET: _job_reset,
    OperationKind.JOB_DELETE: _deleted(EsaClient.delete_scheduled_preload_job, job_forget),
}


def _handler(kind: str) -> Handler:
    # The create handlers live with the rest of the create-once protocol, which builds on this
    # module's outbox; importing them here, not at the top, keeps that dependency one-way.
    from .creates import CREATE_HANDLERS

    handler = _HANDLERS.get(kind) or CREATE_HANDLERS.get(kind)
    if handler is None:
        raise ValueError(f"unknown operation kind {kind!r}")
    return handler
