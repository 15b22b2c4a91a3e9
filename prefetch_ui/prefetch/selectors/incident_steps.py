"""What incidents did to a job's plans, for the job page, and the token its poll carries of their
unsettled steps."""

from __future__ import annotations

import functools

from django.db.models import OuterRef, QuerySet

from ..holds import Holds, IncidentStep, holds
from ..models import Job

# How many entries the job page's "Recent operations" shows: its operations and incidents' steps.
RECENT_OPERATIONS_SHOWN = 10


def job_incident_steps(*, job: Job, shown: int = RECENT_OPERATIONS_SHOWN) -> list[IncidentStep]:
    """What incidents did to the job's plans (see `IncidentStep`), newest first: one query (the
    registered holds read it)."""
    return holds().job_steps(job, shown)


def _incidents_digest(job: Job) -> str:
    """The open incidents on the job's site, as a few digits ("" when there are none): read with
    the job by `job_to_poll(steps=True)`, else in one query of the incidents."""
    return holds().job_steps_digest(job)


def job_incident_steps_token(*, job: Job, steps_since: str = "") -> str:
    """While an open incident's step on the job's plans is unsettled, a token that changes when any
    step of those incidents does ("" when none is): the job page's poll carries it, since a step's
    outcome is written after ESA's answer reached the mirror (which moved the job's version) and
    moves no version of the job itself. `steps_since`: the token the page shows. No query for a job
    from `job_to_poll(steps=True)` whose incidents did not change; else at most two, none of
    which reads more than the incidents and whether the job has an unsettled step."""
    digest = _incidents_digest(job)
    if not digest or digest == steps_since:
        return digest  # none; or none of their steps changed, so this job's are still unsettled
    return digest if holds().job_steps_unsettled(job) else ""


def job_incident_steps_unchanged(*, job: Job, steps_since: str) -> bool:
    """Whether no step of the open incidents on the job's site changed since the page's token
    (for a job from `job_to_poll(steps=True)`: no query)."""
    return _incidents_digest(job) == steps_since


def jobs_with_incidents_total() -> QuerySet[Job]:
    """Jobs, each with a total over the open incidents on its site (`steps_incidents`)."""
    return _jobs_with_incidents_total(holds())


@functools.cache
def _jobs_with_incidents_total(registered: Holds) -> QuerySet[Job]:
    # Built once (per registered holds): resolving a subquery costs a poll more than running it
    # (never evaluated itself, only cloned by `filter`).
    return Job.objects.annotate(steps_incidents=registered.job_steps_total(OuterRef("site_id")))
