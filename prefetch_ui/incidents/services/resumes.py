"""Resuming what an incident held: exactly its plans, each put back as it was, and no others.

`resume_preview` says, before anything is sent, what will happen to each held plan: started again,
its original window back, rescheduled from now when its window passed during the hold (or left to
finish without sending, if the operator prefers), or left alone when someone changed or deleted it
meanwhile. `resume_request` records that and hands the steps to the same drainers as the hold.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from .pacing import SiteLoad, ramp_still_ahead, site_loads
from .scopes import held_plan_pass, hold_changes_serialized, hold_covering, pass_note, scope_site_ids
from .step_calls import reschedule_window
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

    stays_with: Incident | None = None  # PASS: the active hold that goes on holding it


@dataclass(frozen=True, slots=True)
class StaysHeld:
    """Plans that another active hold still covers: they pass to it instead of being put back."""

    incident: Incident
    count: int


class RampRefused(ValueError):
    """A ramp asked for with a cap it cannot keep; the message names the site and the least cap."""


@dataclass(slots=True)
class ResumePreview:
    lines: list[ResumeLine]
    not_held: list[HeldPlan]  # finished, deleted or refused during the hold: nothing to put back
    reschedule: bool
    counts: dict[str, int] = field(default_factory=dict)
    stays_held: list[StaysHeld] = field(default_factory=list)
    # Per site: the origin's load before the hold, as it was, and under the ramp (if `ramp`).
    loads: list[SiteLoad] = field(default_factory=list)
    ramp: bool = False
    # The moment the preview was laid out for: a confirmation sends it back (see resume_request).
    now: datetime | None = None
    # Each plan put back with the window it gets as it was (the ramp may move it: `put_back`).
    sent: list[tuple[HeldPlan, tuple[datetime, datetime]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for action in ResumeAction:
            self.counts[action.value] = sum(1 for line in self.lines if line.action == action)
        self.counts["passed"] = sum(1 for line in self.lines if line.window_passed)
        by_incident: dict[int, StaysHeld] = {}
        for line in self.lines:
            if line.stays_with is not None:
                known = by_incident.get(line.stays_with.pk)
                count = known.count + 1 if known else 1
                by_incident[line.stays_with.pk] = StaysHeld(line.stays_with, count)
        self.stays_held = sorted(by_incident.values(), key=lambda stays: stays.incident.pk)

    @property
    def ramp_errors(self) -> list[str]:
        return [load.error for load in self.loads if load.error]

    def ramped_window(self, line: ResumeLine) -> tuple[datetime, datetime] | None:
        """The window the ramp gives the line's plan (None: as it was)."""
        for load in self.loads:
            if line.held.plan_esa_id in load.windows:
                return load.windows[line.held.plan_esa_id]
        return None

    @property
    def rows(self) -> list[tuple[ResumeLine, tuple[datetime, datetime] | None]]:
        """Each line with the window the ramp gives its plan, for the page."""
        windows = {key: window for load in self.loads for key, window in load.windows.items()}
        return [(line, windows.get(line.held.plan_esa_id)) for line in self.lines]

    @property
    def put_back(self) -> list[tuple[HeldPlan, tuple[datetime, datetime]]]:
        """Each plan put back with the window it gets: the ramp's, or as it was."""
        windows = {key: window for load in self.loads for key, window in load.windows.items()}
        return [(held, windows.get(held.plan_esa_id, window)) for held, window in self.sent]

    @property
    def to_send(self) -> int:
        """Plans whose resume makes ESA calls: neither left alone nor staying held."""
        return sum(1 for line in self.lines if line.action not in (ResumeAction.LEAVE, ResumeAction.PASS))


def _line(
    held: HeldPlan,
    *,
    now: datetime,
    reschedule: bool,
    remaining: dict[str, int],
    covering: Incident | None,
) -> ResumeLine:
    plan = held.plan
    if plan is None:
        return ResumeLine(held, ResumeAction.LEAVE, "deleted meanwhile: nothing to resume")
    # Where the hold left the plan's window when it moved it (a park; or a stop of a plan someone
    # had moved out of its park): the resume then gives it back its original window.
    parked = held.parked_start is not None
    expected = PlanStatus.STOPPED if held.hold_outcome == HoldOutcome.STOPPED else PlanStatus.WAITING
    if plan.status != expected or (parked and plan.start_time != held.parked_start):
        return ResumeLine(
            held,
            ResumeAction.LEAVE,
            f"changed by someone else during the hold (now {plan.status}): left as it is",
        )
    if covering is not None:
        return ResumeLine(held, ResumeAction.PASS, pass_note(to=covering), stays_with=covering)
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
    *,
    incident: Incident,
    reschedule: bool = True,
    caps: Mapping[int, int] | None = None,
    now: datetime | None = None,
) -> ResumePreview:
    """What the resume will do to each held plan, and to each site's origin.

    `caps`: a ramp, site ESA id → URLs a minute (a site not named gets its default: its peak from
    before the hold); None: every plan put back at once, as it was.
    """
    now = now or timezone.now()
    held_plans = list(
        HeldPlan.objects.filter(incident=incident)
        .select_related("plan", "plan__job", "site")
        .order_by("label", "id")
    )
    remaining = {
        held.job_esa_id: max(0, held.plan.job.url_count - held.plan.job.url_submitted)
        for held in held_plans
        if held.plan is not None
    }
    covering: dict[int, Incident | None] = {}
    lines, not_held = [], []
    for held in held_plans:
        if held.hold_outcome in HELD_OUTCOMES and held.state == StepState.DONE:
            if held.site_id not in covering:
                covering[held.site_id] = hold_covering(site_id=held.site_id, besides=incident)
            line = _line(
                held, now=now, reschedule=reschedule, remaining=remaining, covering=covering[held.site_id]
            )
            lines.append(line)
        else:
            not_held.append(held)
    sent = [(line.held, window) for line in lines if (window := _window_as_it_was(line, now)) is not None]
    loads = site_loads(
        held_at=incident.held_at,
        held=[line.held for line in lines],
        sent=sent,
        remaining_urls=remaining,
        now=now,
        caps=caps,
    )
    return ResumePreview(
        lines=lines,
        not_held=not_held,
        reschedule=reschedule,
        loads=loads,
        ramp=caps is not None,
        now=now,
        sent=sent,
    )


def _window_as_it_was(line: ResumeLine, now: datetime) -> tuple[datetime, datetime] | None:
    """The window a plan put back gets as it was (None: nothing is put back, or its window is unknown)."""
    held = line.held
    if line.action == ResumeAction.RESCHEDULE:
        return reschedule_window(held=held, now=now)
    if line.action == ResumeAction.RESTORE:
        window = (held.original_start, held.original_end)
    elif line.action == ResumeAction.START and held.plan is not None:
        window = (held.plan.start_time, held.plan.end_time)  # started again where it was stopped
    else:
        return None
    start, end = window
    return None if start is None or end is None else (start, end)


def resume_request(
    *,
    user: User,
    incident: Incident,
    reschedule: bool,
    reason: str = "",
    caps: Mapping[int, int] | None = None,
    shown_at: datetime | None = None,
    via: str = "",
) -> ResumePreview:
    """Start the resume of `incident`: every held plan gets its resume step; returns what was planned.

    Plans another active hold still covers pass to it (no ESA call): that hold puts them back. With
    `caps` (see `resume_preview`), each plan put back gets the window the ramp gives it; a cap the
    ramp cannot keep refuses the resume (RampRefused) and changes nothing. `shown_at`: when the
    preview the operator confirmed was laid out; its windows are sent exactly as shown while its
    ramp still starts ahead of the calls, else the ramp is laid out again from now (the returned
    preview's `now` says which). `via`: who asked when not `user` on a page (see `hold_request`).
    """
    with transaction.atomic():
        hold_changes_serialized()
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
        version = incident_version_next(incident_id=incident.pk, whole=True)
        now = timezone.now()
        preview = None
        if shown_at is not None and caps is not None and shown_at <= now:
            # The ramp as shown, if it still starts ahead of its calls (counted as it counts them).
            preview = resume_preview(incident=incident, reschedule=reschedule, caps=caps, now=shown_at)
            calls = sum(load.plans for load in preview.loads)
            if not ramp_still_ahead(shown_at=shown_at, now=now, calls=calls):
                preview = None
        if preview is None:
            preview = resume_preview(incident=incident, reschedule=reschedule, caps=caps, now=now)
        if preview.ramp_errors:
            raise RampRefused("; ".join(preview.ramp_errors) + ". Nothing was resumed.")
        changed: list[HeldPlan] = []
        taking_over = {stays.incident.pk: stays.incident for stays in preview.stays_held}
        # The holds that take plans over list them on their pages: drawn again as a whole.
        versions = {pk: incident_version_next(incident_id=pk, whole=True) for pk in sorted(taking_over)}
        for line in preview.lines:
            held = line.held
            held.resume_action, held.resume_note = line.action, line.note[:255]
            held.attempts, held.error_code, held.error_message = 0, "", ""
            held.version = version
            if line.action == ResumeAction.LEAVE:
                held.state, held.resume_outcome = StepState.DONE, ResumeOutcome.LEFT_ALONE
            elif line.stays_with is not None:
                held_plan_pass(held=held, to=line.stays_with, version=versions[line.stays_with.pk])
                held.state, held.resume_outcome = StepState.DONE, ResumeOutcome.PASSED
                held.passed_to = line.stays_with
            else:
                held.state, held.resume_outcome = StepState.PENDING, ""
                held.resume_start, held.resume_end = preview.ramped_window(line) or (None, None)
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
                "passed_to",
                "resume_start",
                "resume_end",
                "version",
            ],
            batch_size=1000,
        )
        # The hold no longer refuses anything: every job page of the scope offers its buttons again.
        hold_scope_changed(site_ids=scope_site_ids(site=incident.site))
        Incident.objects.filter(pk=incident.pk).update(
            status=IncidentStatus.RESUMING,
            resumed_by_id=user.pk if user.is_authenticated else None,
            resumed_via=via[:255],
            resume_requested_at=timezone.now(),
            resume_reason=reason.strip(),
            resume_caps={str(load.site.esa_id): load.cap for load in preview.loads if load.cap is not None},
        )
        incident_id = incident.pk
        transaction.on_commit(lambda: _after_resume_planned(incident_id))
    return preview


def _after_resume_planned(incident_id: int) -> None:
    incident_settle(incident_id=incident_id)  # nothing to send: resumed at once
    drainers_dispatch(incident_id=incident_id)
