"""Celery tasks of the incidents subsystem, all on the `incidents` queue, ahead of routine work."""

from __future__ import annotations

import logging

from celery import shared_task

from prefetch_ui.esa_settings import esa_client_from_settings

from .services.holds import hold_prepare, incidents_sweep
from .services.steps import incident_drain

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def hold_prepare_task(incident_id: int) -> None:
    """List the plans a hold must touch and send the drainers. Idempotent."""
    count = hold_prepare(incident_id)
    logger.info("incident %s: %d plan(s) to hold", incident_id, count)


@shared_task(acks_late=True, ignore_result=True)
def incident_drain_task(incident_id: int) -> None:
    """Carry out the incident's pending steps until none is left."""
    # Incident calls go first in the ESA call budget: the sync and operations wait while they wait.
    with esa_client_from_settings(priority="incident") as client:
        done = incident_drain(incident_id=incident_id, client=client)
    logger.info("incident %s: a drainer carried out %d step(s)", incident_id, done)


@shared_task(ignore_result=True)
def incidents_sweep_task() -> None:
    """Send again what a lost message or a dead worker left behind."""
    touched = incidents_sweep()
    if touched:
        logger.info("incident sweep sent work again for %s", touched)
