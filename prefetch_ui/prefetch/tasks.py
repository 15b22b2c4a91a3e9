"""Celery tasks: thin wrappers that take ids, build an ESA client and call one service.

One direction (HackSoft's styleguide): the services import these tasks at their top to send them;
a task imports its service inside its body, when it runs."""

from __future__ import annotations

import logging

from celery import shared_task

from prefetch_ui.core.metrics import sync_observed
from prefetch_ui.esa import EsaThrottledError
from prefetch_ui.esa_budget import EsaBudgetWaitError
from prefetch_ui.esa_settings import esa_client_from_settings

logger = logging.getLogger(__name__)

# Backoff, not failure: ESA throttled us past the client's retries, or the call budget stayed with
# incident work all along. Either way the next cycle, a period later, simply tries again.
_SYNC_BACKOFF = (EsaThrottledError, EsaBudgetWaitError)


@shared_task(acks_late=True, ignore_result=True)
def operation_execute_task(operation_id: int) -> None:
    """Carry out one operation. Idempotent: a redelivered message finds it claimed or done."""
    from .services.operations import operation_execute

    with esa_client_from_settings() as client:
        operation_execute(operation_id=operation_id, client=client)


@shared_task(ignore_result=True)
def operation_sweep_task() -> None:
    """Send again operations whose dispatch or worker was lost."""
    from .services.operations import operation_sweep

    resent = operation_sweep()
    if resent:
        logger.info("re-dispatched operations %s", resent)


@shared_task(ignore_result=True, expires=60)
def esa_sync_task() -> None:
    """Refresh the local mirror of ESA."""
    from .holds import holds
    from .services.sync import esa_sync
    from .services.sync_cycles import sync_cycle_alone

    with sync_cycle_alone() as alone:
        if not alone:
            return  # the cycle before is still running: this one is skipped (logged and counted)
        # With the end line, by task id: what a benchmark counts overlapping cycles from.
        logger.info("ESA sync cycle started", extra={"task_id": esa_sync_task.request.id})
        try:
            # Timed for /metrics; a cycle that ends without raising is the "last successful sync" of
            # /readyz (one that backs off is not).
            with sync_observed():
                with esa_client_from_settings() as client:
                    # The sync reads held sites fully and leaves those an incident's fan-out works on
                    # to it; what started on a held site since is held again (prefetch_ui.incidents).
                    report = esa_sync(
                        client=client, watched=holds().held_site_watch(), paused=holds().fan_out_sites()
                    )
                holds().holds_enforce()
        except _SYNC_BACKOFF as error:
            logger.warning("ESA sync: cycle ended early, backing off until the next one: %s", error)
            return
    logger.info(
        "ESA sync: %d calls, %d sites (%d failed, %d left to an incident), %d jobs (%d removed),"
        " %d plan listings (%d left for later cycles)",
        report.esa_calls,
        report.sites,
        report.site_errors,
        report.sites_paused,
        report.jobs,
        report.jobs_removed,
        report.plan_listings,
        report.backlog_left,
        extra={"task_id": esa_sync_task.request.id},
    )
