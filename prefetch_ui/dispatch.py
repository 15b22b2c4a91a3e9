"""Sending a Celery task from a service, written once (pretix's `TransactionAwareTask` idea).

A task is sent after the transaction that wrote its work commits, so a worker never looks for a row
that is not there yet; and a broker that refuses the message fails nothing: the row is the truth,
and the beat's sweep of each subsystem sends again what was never sent. Which queue a task goes to
is settings.CELERY_TASK_ROUTES' business, never the caller's. Project-level: imports from no app."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


def task_send(task: Task[Any, Any], args: Sequence[object], *, what: str, task_id: str | None = None) -> bool:
    """Send `task` with `args` now; when the broker refuses, log it (naming `what` is not sent)
    and return False: the sweep sends it again."""
    try:
        task.apply_async(tuple(args), task_id=task_id)
    except Exception:  # the broker's errors (kombu, redis, socket) have no common base
        logger.warning("could not send %s; the sweep will send it again", what, exc_info=True)
        return False
    return True


def dispatch_after_commit(
    task: Task[Any, Any],
    args: Sequence[object],
    *,
    what: str,
    sent: Callable[[], object] | None = None,
) -> None:
    """Send `task` once the current transaction commits (at once outside one), as `task_send`
    does; then call `sent`, if given, when the broker took it."""

    def send() -> None:
        if task_send(task, args, what=what) and sent is not None:
            sent()

    transaction.on_commit(send)
