"""Resuming what an incident held: exactly its plans, each put back as it was, and no others.

`resume_preview` says, before anything is sent, what will happen to each held plan: started again,
its original window back, rescheduled from now when its window passed during the hold (or left to
finish without sending, if the operator prefers), or left alone when someone changed or deleted it
meanwhile. `resume_request` records that and hands the steps to the same drainers as the hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from prefetch_ui.prefetch.models import PlanStatus
from prefetch_ui.prefetch.services.changes import hold_scope_changed

from ..models import (
    HELD_OUTCOMES,
    HeldPlan,
    HoldOutcome,
    Incident,
    IncidentStatus,
    ResumeAction,
    ResumeOutcome,
    StepState,
)
from .changes import incident_version_next
from .holds import scope_site_ids
from .steps import drainers_dispatch, incident_settle

User = AbstractBaseUser | AnonymousUser


class IncidentStateError(Exception):
    """The incident is not in a state that allows this; the message says why, for the operator."""


@dataclass(frozen=True, slots=True)
class ResumeLine:
    held: HeldPlan
    action: ResumeAction
    note: str
    window_passed: bool = False


@dataclass(slots=True)
class ResumePreview:
    lines: list[ResumeLine]
    not_held: list[HeldPlan]  # finished, deleted or refused during the hold: nothing to put back
    reschedule: bool
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for action in ResumeAction:
            self.counts[action.value] = sum(1 for line in self.lines if line.action == action)
        self.counts["passed"] = sum(1 for line in self.lines if line.window_passed)

    @property
    def to_send(self) -> int:
        return sum(1 for line in self.lines if line.action != ResumeAction.LEAVE)


def _line(held: HeldPlan, *, now: datetime, reschedule: bool, remaining: dict[str, int]) -> ResumeLine:
    plan = held.plan
    if plan is None:
        return ResumeLine(held, ResumeAction.LEAVE, "deleted meanwhile: nothing to resume")
    parked = held.parked_start is not None
    expected = PlanStatus.STOPPED if held.hold_outcome == HoldOutcome.STOPPED else PlanStatus.WAITING
    if plan.status != expected or (parked and plan.start_time != held.parked_start):
        return ResumeLine(
            held,
            ResumeAction.LEAVE,
            f"changed by someone else during the hold (now {plan.status}): left as it is",
        )
    put_back = ResumeAction.RESTORE if parked else ResumeAction.START
    if held.original_end is not None and held.original_end <= now:
        urls = remaining.get(held.job_esa_id, 0)
        if reschedule:
            return ResumeLine(
                held,
                ResumeAction.RESCHEDULE,
                f"its window ended during the hold; rescheduled from now at the same rate "
                f"({held.slice_len} URLs every {held.interval} s) for the job's {urls} unsent URLs",
                window_passed=True,
            )
        return ResumeLine(
            held,
            put_back,
            f"its window ended during the hold: put back as it was, it finishes without sending "
            f"(the job has {urls} unsent URLs)",
            window_passed=True,
        )
    if held.original_start is not None and held.original_start < now and parked:
        return ResumeLine(held, put_back, "its window has begun: it runs from now to its original end")
    return ResumeLine(held, put_back, "")


def resume_preview(
    incident: Incident, *, reschedule: bool = True, now: datetime | None = None
) -> ResumePreview:
    now = now or timezone.now()
    held_plans = list(
        HeldPlan.objects.filter(incident=incident).select_related("plan", "plan__job").order_by("label", "id")
    )
    remaining = {
        held.job_esa_id: max(0, held.plan.job.url_count - held.plan.job.url_submitted)
        for held in held_plans
        if held.plan is not None
    }
    lines, not_held = [], []
    for held in held_plans:
        if held.hold_outcome in HELD_OUTCOMES and held.state == StepState.DONE:
            lines.append(_line(held, now=now, reschedule=reschedule, remaining=remaining))
        else:
            not_held.append(held)
    return ResumePreview(lines=lines, not_held=not_held, reschedule=reschedule)


def resume_request(*, user: User, incident: Incident, reschedule: bool) -> ResumePreview:
    """Start the resume of `incident`: every held plan gets its resume step; returns what was planned."""
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.status in (IncidentStatus.RESUMING, IncidentStatus.RESUMED):
            raise IncidentStateError(
                f"Incident #{incident.pk} is already {incident.get_status_display().lower()}."
            )
        if incident.status != IncidentStatus.HELD:
            raise IncidentStateError(
                f"The hold of incident #{incident.pk} is still being applied; "
                "resume it once every plan is held."
            )
        # Another phase: the incident's page is drawn again as a whole.
        version = incident_version_next(incident.pk, whole=True)
        preview = resume_preview(incident, reschedule=reschedule)
        changed: list[HeldPlan] = []
        for line in preview.lines:
            held = line.held
            held.resume_action, held.resume_note = line.action, line.note[:255]
            held.attempts, held.error_code, held.error_message = 0, "", ""
            held.version = version
            if line.action == ResumeAction.LEAVE:
                held.state, held.resume_outcome = StepState.DONE, ResumeOutcome.LEFT_ALONE
            else:
                held.state, held.resume_outcome = StepState.PENDING, ""
            changed.append(held)
        HeldPlan.objects.bulk_update(
            changed,
            [
                "resume_action",
                "resume_note",
                "attempts",
                "error_code",
                "error_message",
                "state",
                "resume_outcome",
                "version",
            ],
            batch_size=1000,
        )
        # The hold no longer refuses anything: every job page of the scope offers its buttons again.
        hold_scope_changed(site_ids=scope_site_ids(incident.site))
        Incident.objects.filter(pk=incident.pk).update(
            status=IncidentStatus.RESUMING,
            resumed_by_id=user.pk if user.is_authenticated else None,
            resume_requested_at=timezone.now(),
        )
        incident_id = incident.pk
        transaction.on_commit(lambda: _after_resume_planned(incident_id))
    return preview


def _after_resume_planned(incident_id: int) -> None:
    incident_settle(incident_id)  # nothing to send: resumed at once
    drainers_dispatch(incident_id)
