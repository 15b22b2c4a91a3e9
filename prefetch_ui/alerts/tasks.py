"""Celery tasks of the alert receivers: the resume a resolved alert asks for, and the sweep that
tries again what is due (a quiet period over, a hold still being applied) and forgets old delivery
ids. Thin: each calls one service, imported inside its body (HackSoft's one direction)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def alert_resume_task(alert_hold_id: int) -> None:
    """Resume the incident of a resolved alert if it is due and no one else holds it. Idempotent."""
    from .services.holds import alert_resume_try

    note = alert_resume_try(alert_hold_id=alert_hold_id)
    if note:
        logger.info("alert hold %s: %s", alert_hold_id, note)


@shared_task(acks_late=True, ignore_result=True)
def alerts_sweep_task() -> None:
    """Try every due resume again, and forget delivery ids past the replay window."""
    from .services.deliveries import deliveries_forget
    from .services.holds import alert_resume_try, alert_resumes_due

    for alert_hold_id in alert_resumes_due():
        note = alert_resume_try(alert_hold_id=alert_hold_id)
        if note:
            logger.info("alert hold %s: %s", alert_hold_id, note)
    deliveries_forget()
