"""Celery tasks of notifications (the default queue): thin, each calls one service. The services
import these at their top; a task imports its service inside its body."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def channel_send_task(channel_id: int) -> None:
    """Send the channel's due deliveries, in order. Idempotent (deliveries are claimed)."""
    from .services.outbox import channel_deliveries_send

    channel_deliveries_send(channel_id=channel_id)


@shared_task(ignore_result=True)
def notifications_scan_task() -> None:
    """Find what happened since the last scan and record it as events (with their deliveries)."""
    from .services.scan import notifications_scan

    recorded = notifications_scan()
    if recorded:
        logger.info("notifications: %d event(s) recorded", recorded)


@shared_task(ignore_result=True)
def deliveries_sweep_task() -> None:
    """Send the deliveries whose retry is due, and those whose sender was lost."""
    from .services.outbox import deliveries_sweep

    deliveries_sweep()
