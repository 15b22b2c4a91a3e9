"""Why an operation the job page shows (or a job create the site page lists) has not started: it
has waited for a worker longer than settings.PREFETCH_OPERATION_WAIT_SECONDS, and what the product
can tell of why (no worker takes its queue, other tasks wait there before it, the workers are busy,
it never reached the queue).

A create that waits in silence looks like a frozen page (issue 20: "Creating plans…" for 40 s);
this says so on the page while it waits, and the poll carries what the page says (`OperationWait.token`)
so that the note appears, changes and goes without anything else on the page changing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from prefetch_ui.core.queues import queue_consumers, queue_length, task_queue

from ..models import Job, Operation, OperationKind, OperationStatus, Site
from ..tasks import operation_execute_task

logger = logging.getLogger(__name__)

# Why an operation waits, as the token says it (short) and the page says it (a clause).
NOT_SENT = "not-sent"
NO_WORKER = "no-worker"
QUEUED = "queued"
BUSY = "busy"
NO_BROKER = "no-broker"


@dataclass(frozen=True, slots=True)
class OperationWait:
    """An operation of a job that has waited for a worker past the threshold, and why."""

    operation: Operation
    since: datetime  # when it was asked for: what it has waited since
    queue: str  # the Celery queue its task goes to
    reason: str  # one of the reasons above
    queued: int = 0  # messages in its queue (its own included) when the reason is QUEUED

    @property
    def token(self) -> str:
        """What the poll carries: a change of operation or of reason draws the note again."""
        return f"{self.operation.pk}.{self.reason}"


def waited_too_long(*, since: datetime, now: datetime) -> bool:
    """Whether an operation asked for at `since` has waited for a worker longer than the setting."""
    return now - since >= timedelta(seconds=settings.PREFETCH_OPERATION_WAIT_SECONDS)


def job_operation_wait(*, job: Job, now: datetime | None = None) -> tuple[OperationWait | None, str]:
    """The oldest operation on `job` (or one of its plans) that no worker has started although it
    was asked for more than PREFETCH_OPERATION_WAIT_SECONDS ago, and why (None when there is none);
    and the token the job page's poll carries for it: the wait's, "@<epoch>" while the oldest
    pending operation has not waited that long yet (so that a poll can tell when it has without a
    query), "" with none pending. One query, and while an operation waits, two Redis reads."""
    return _oldest_pending_wait(Operation.objects.filter(job=job), now=now or timezone.now())


def site_creation_wait(*, site: Site, now: datetime | None = None) -> tuple[OperationWait | None, str]:
    """The same for the jobs asked for on `site` (New job), which its page lists while they are
    created: a job create no worker takes says so there, as a plans create does on its job's page."""
    operations = Operation.objects.filter(site=site, kind=OperationKind.JOB_CREATE)
    return _oldest_pending_wait(operations, now=now or timezone.now())


def job_wait_unchanged(*, job: Job, shown: str, now: datetime | None = None) -> bool:
    """Whether the note of a waiting operation that a poll's page shows (`shown`, the token of
    `job_operation_wait`) is still the one to show. No query while the page shows none and its
    oldest pending operation has not waited long enough to need one."""
    return _wait_unchanged(lambda at: job_operation_wait(job=job, now=at), shown=shown, now=now)


def site_creation_wait_unchanged(*, site: Site, shown: str, now: datetime | None = None) -> bool:
    """`job_wait_unchanged` for the site page's job creates (`site_creation_wait`)."""
    return _wait_unchanged(lambda at: site_creation_wait(site=site, now=at), shown=shown, now=now)


def _oldest_pending_wait(
    operations: QuerySet[Operation], *, now: datetime
) -> tuple[OperationWait | None, str]:
    operation = (
        operations.filter(status=OperationStatus.PENDING)
        .order_by("created_at", "id")
        .only("pk", "kind", "created_at", "dispatched_at", "attempts")
        .first()
    )
    if operation is None:
        return None, ""
    if not waited_too_long(since=operation.created_at, now=now):
        return None, f"@{int(operation.created_at.timestamp())}"
    wait = operation_wait(operation=operation)
    return wait, wait.token


def wait_note_kept(*, shown: str, now: datetime | None = None) -> bool:
    """Whether a page showing `shown` (its poll's token) shows what it should without a read of the
    operations, when none of them changed since the version it shows (none asked for, moved on or
    sent back to pending: each moves that version): it shows none pending (""), or one that has not
    waited long enough to need a note yet ("@…", not due). A poll that draws what changed then
    keeps the token it was asked with, for no query."""
    return shown == "" or _not_due_yet(shown, now or timezone.now())


def _not_due_yet(shown: str, now: datetime) -> bool:
    """Whether `shown` is "@<epoch>" of an operation that has not waited long enough for a note."""
    if not shown.startswith("@"):
        return False
    try:
        asked = datetime.fromtimestamp(int(shown[1:12]), tz=UTC)
    except ValueError:
        return False
    return not waited_too_long(since=asked, now=now)


def _wait_unchanged(
    wait_of: Callable[[datetime], tuple[OperationWait | None, str]], *, shown: str, now: datetime | None
) -> bool:
    now = now or timezone.now()
    if _not_due_yet(shown, now):
        return True
    wait, _ = wait_of(now)
    return not wait_note_changed(wait=wait, shown=shown)


def wait_note_changed(*, wait: OperationWait | None, shown: str) -> bool:
    """Whether the note a page shows (`shown`, its poll's token: "@…" or "" when it shows none) is not
    the one to show for `wait`: then the page's poll sends the note again."""
    return (wait.token if wait else "") != ("" if shown.startswith("@") else shown)


def operation_wait(*, operation: Operation) -> OperationWait:
    """Why `operation`, pending, has not started: what the broker and the workers' heartbeats say."""
    queue = task_queue(operation_execute_task.name)

    def waits(reason: str, queued: int = 0) -> OperationWait:
        return OperationWait(
            operation=operation, since=operation.created_at, queue=queue, reason=reason, queued=queued
        )

    if operation.dispatched_at is None:
        # The broker refused it (or the web process died before sending): the sweep sends it again.
        return waits(NOT_SENT)
    try:
        if not queue_consumers(queue):
            return waits(NO_WORKER)
        queued = queue_length(queue)
    except (redis.RedisError, OSError) as error:
        logger.warning("cannot tell why operation %s waits: %s", operation.pk, error)
        return waits(NO_BROKER)
    # Messages in the queue while a worker consumes it: its threads are all taken. None: a worker
    # has taken this one (prefetched) but not started it, for the same reason.
    return waits(QUEUED, queued) if queued else waits(BUSY)
