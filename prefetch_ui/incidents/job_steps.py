"""What incidents did to a job's plans, as prefetch's job page shows it (its list of what was done,
and its poll's token of unsettled steps), asked through `prefetch_ui.prefetch.holds`."""

from __future__ import annotations

from datetime import datetime

from django.db.models import BigIntegerField, F, Func, OuterRef, Q, QuerySet, Subquery, Sum

from prefetch_ui.prefetch.holds import IncidentStep
from prefetch_ui.prefetch.models import Job

from .models import (
    OPEN_INCIDENT_STATUSES,
    UNSETTLED_STEP_STATES,
    HeldPlan,
    HoldOutcome,
    Incident,
    ResumeOutcome,
)

# The steps that did something to the plan (or were refused): a hold that found the plan finished,
# stopped or deleted did nothing to it, and says so on its incident's page only.
_SHOWN_HOLD_OUTCOMES = (HoldOutcome.STOPPED, HoldOutcome.PARKED, HoldOutcome.REFUSED)
_SHOWN_RESUME_OUTCOMES = tuple(outcome for outcome in ResumeOutcome if outcome != ResumeOutcome.GONE)


def _call_time(call: object) -> datetime | None:
    at = call.get("at") if isinstance(call, dict) else None
    try:
        return datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        return None


def _incident_steps_of(held: HeldPlan) -> list[IncidentStep]:
    """The hold and the resume of one `HeldPlan` row, each at the time of its last ESA call (a
    call before the resume was asked for is the hold's), else when its phase ended."""
    incident = held.incident
    resume_asked = incident.resume_requested_at
    times = [at for at in map(_call_time, held.calls) if at is not None]
    hold_calls = [at for at in times if resume_asked is None or at < resume_asked]
    resume_calls = [at for at in times if resume_asked is not None and at >= resume_asked]
    steps = []
    if held.hold_outcome in _SHOWN_HOLD_OUTCOMES:
        fallback = held.updated_at if resume_asked is None else incident.hold_done_at or incident.held_at
        steps.append(
            IncidentStep(
                at=max(hold_calls, default=fallback),
                incident_id=incident.pk,
                phase="hold",
                outcome=held.hold_outcome,
                outcome_label=HoldOutcome(held.hold_outcome).label,
                failed=held.hold_outcome == HoldOutcome.REFUSED,
                plan_esa_id=held.plan_esa_id,
                actor=incident.held_by_label,
                # A refused resume clears nothing of the hold's: its error is the resume's then.
                error_code=held.error_code if not held.resume_outcome else "",
                error_message=held.error_message if not held.resume_outcome else "",
                request_id=held.request_id if not held.resume_outcome else "",
            )
        )
    if held.resume_outcome in _SHOWN_RESUME_OUTCOMES:
        steps.append(
            IncidentStep(
                at=max(resume_calls, default=incident.resumed_at or held.updated_at),
                incident_id=incident.pk,
                phase="resume",
                outcome=held.resume_outcome,
                outcome_label=ResumeOutcome(held.resume_outcome).label,
                failed=held.resume_outcome == ResumeOutcome.REFUSED,
                plan_esa_id=held.plan_esa_id,
                actor=incident.resumed_by_label,
                error_code=held.error_code,
                error_message=held.error_message,
                request_id=held.request_id,
            )
        )
    return steps


def job_incident_steps(*, job: Job, shown: int) -> list[IncidentStep]:
    """What incidents did to the job's plans (see `IncidentStep`), newest first: one query, read
    from the `HeldPlan` rows of the job's most recently changed steps, whatever their number."""
    rows = (
        HeldPlan.objects.filter(job_esa_id=job.esa_id)
        .filter(Q(hold_outcome__in=_SHOWN_HOLD_OUTCOMES) | Q(resume_outcome__in=_SHOWN_RESUME_OUTCOMES))
        .select_related("incident__held_by", "incident__resumed_by")
        .order_by("-updated_at", "-id")[:shown]
    )
    steps = [step for held in rows for step in _incident_steps_of(held)]
    return sorted(steps, key=lambda step: step.at, reverse=True)[:shown]


def _open_incidents_on(site_id: int | OuterRef) -> QuerySet[Incident]:
    """The open incidents whose hold covers a site: its own, and those of every site."""
    return Incident.objects.filter(
        Q(site_id=site_id) | Q(site__isnull=True), status__in=OPEN_INCIDENT_STATUSES
    ).order_by()


# The job page's steps token is one total over the open incidents on the job's site: each adds its
# change version, which every write of one of its steps moves (services/changes.py), and this
# weight, which no version reaches, so that an incident that opens or closes changes it too.
_OPEN_INCIDENT_WEIGHT = 10**12


def open_incidents_total(site_id: OuterRef) -> Subquery:
    """The total over the open incidents on the site `site_id` names, as a subquery over jobs."""
    # A plain function, not an aggregate: as a subquery's one column, a total with no GROUP BY.
    total = Func(F("version") + _OPEN_INCIDENT_WEIGHT, function="SUM", output_field=BigIntegerField())
    return Subquery(_open_incidents_on(site_id).values(total=total))


def open_incidents_digest(job: Job) -> str:
    """The open incidents on the job's site, as a few digits ("" when there are none): read with
    the job when it was annotated with `open_incidents_total` as `steps_incidents`, else in one
    query of the incidents."""
    if hasattr(job, "steps_incidents"):
        total = job.steps_incidents
    else:
        incidents = _open_incidents_on(job.site_id)
        total = incidents.aggregate(total=Sum(F("version") + _OPEN_INCIDENT_WEIGHT))["total"]
    return str(int(total)) if total else ""


def job_steps_unsettled(job: Job) -> bool:
    """Whether an open incident has a step on the job's plans not yet settled."""
    return HeldPlan.objects.filter(
        job_esa_id=job.esa_id, incident__status__in=OPEN_INCIDENT_STATUSES, state__in=UNSETTLED_STEP_STATES
    ).exists()
