"""A hold that has done its work, built through the real services: what a page's test needs to see
held plans as the mirror and the incident then say they are."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from prefetch_ui.incidents.models import HeldPlan, HoldOutcome, Incident, IncidentStatus, StepState
from prefetch_ui.incidents.services.holds import hold_prepare, hold_request
from prefetch_ui.prefetch.models import Plan, PlanStatus, Site
from prefetch_ui.web.template_tags import local
from tests.esa_changes import esa_says

__all__ = ["as_shown", "hold_done", "parked_window"]


def as_shown(moment: datetime | None) -> str:
    """A time as pages show it to an operator who kept the default display zone."""
    with timezone.override(ZoneInfo(settings.PREFETCH_DISPLAY_TIME_ZONE)):
        return local(moment)


def parked_window() -> datetime:
    """Where `hold_done` parks waiting plans: a year ahead, as the hold does."""
    return timezone.now().replace(microsecond=0) + timedelta(days=365)


def hold_done(*, user: User, site: Site | None, reason: str = "origin down") -> Incident:
    """Hold `site` (None: every site) as an operator's click and the workers would: the incident,
    its plans listed (`hold_prepare`), then each step done as ESA answered it: running plans
    stopped, waiting ones parked a year ahead, written into the mirror as `plan_answer_mirror`
    writes an ESA answer (with change versions)."""
    incident, _ = hold_request(user=user, site=site, reason=reason)
    hold_prepare(incident_id=incident.pk)
    parked_at = parked_window()
    for held in HeldPlan.objects.filter(incident=incident):
        plan = Plan.objects.select_related("job").get(esa_id=held.plan_esa_id)
        if held.hold_action == "stop":
            held.hold_outcome = HoldOutcome.STOPPED
            esa_says(plan, status=PlanStatus.STOPPED)
        else:
            held.hold_outcome = HoldOutcome.PARKED
            held.parked_start, held.parked_end = parked_at, parked_at + timedelta(hours=1)
            esa_says(plan, start_time=held.parked_start, end_time=held.parked_end)
        held.state = StepState.DONE
        held.save()
    Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.HELD)
    incident.refresh_from_db()
    return incident
