"""Celery tasks of the incidents subsystem, all on the `incidents` queue (CELERY_TASK_ROUTES), ahead
of routine work. The services import these tasks at their top to send them; a task imports its
service inside its body (HackSoft's one direction)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import task_received

from prefetch_ui.core.workers import worker_id
from prefetch_ui.esa_settings import esa_client_from_settings

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def hold_prepare_task(incident_id: int) -> None:
    """List the plans a hold must touch and send the drainers. Idempotent."""
    from .services.holds import hold_prepare

    count = hold_prepare(incident_id=incident_id)
    logger.info("incident %s: %d plan(s) to hold", incident_id, count)


@shared_task(acks_late=True, ignore_result=True)
def incident_drain_task(incident_id: int, reservation: str = "") -> None:
    """Carry out the incident's pending steps until none is left, in the place `reservation` names
    (the task's id; "" in a message sent before drainers had reservations: it asks for room)."""
    from .services.steps import incident_drain

    # Incident calls go first in the ESA call budget: the sync and operations wait while they wait.
    with esa_client_from_settings(priority="incident") as client:
        done = incident_drain(incident_id=incident_id, client=client, reservation=reservation)
    logger.info("incident %s: a drainer carried out %d step(s)", incident_id, done)


@task_received.connect(weak=False)
def _drainer_received(request: Any = None, **_: Any) -> None:
    """A drainer received by this worker process counts under it until it starts: a worker that
    dies holding prefetched drainers frees their places (see `services.drainers`)."""
    if request is None or request.name != incident_drain_task.name:
        return
    from .services.drainers import drainer_received

    args = list(request.args)
    if len(args) == 2:
        drainer_received(incident_id=int(args[0]), reservation=str(args[1]), worker=worker_id())


@shared_task(ignore_result=True)
def incidents_sweep_task() -> None:
    """Send again what a lost message or a dead worker left behind."""
    from .services.holds import incidents_sweep

    touched = incidents_sweep()
    if touched:
        logger.info("incident sweep sent work again for %s", touched)
