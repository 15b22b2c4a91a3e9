"""What prefetch asks of whatever may hold prefetch on a site (the incidents app), through one
registered extension point: prefetch imports no module of incidents, which uses prefetch. The
incidents app registers its `Holds` in IncidentsConfig.ready() (`holds_register`); until one is
registered (incidents not installed), `NoHolds` answers: nothing is ever held.

Pages ask whether a site is held (to refuse starting plans there, and to say by which incident);
the sync asks which sites to read in full and which to leave to an incident's fan-out, and has
holds enforced after each cycle; selectors ask which plans are held, and what incidents did to a
job's plans (its page's history and its poll's token)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.db.models import BigIntegerField, BooleanField, Exists, OuterRef, Subquery, Value

from .models import Job, Site


@dataclass(frozen=True, slots=True)
class IncidentStep:
    """What an incident did to one of a job's plans, for the job's list of what was done to it:
    its hold (stopped, parked) or its resume (started, restored, rescheduled, left alone, passed
    on), or ESA's refusal of either."""

    at: datetime
    incident_id: int
    phase: str  # "hold" or "resume"
    outcome: str  # the incident's outcome of the phase
    outcome_label: str
    failed: bool  # ESA refused it
    plan_esa_id: str
    actor: str  # who held, or who resumed; "" when nobody is recorded
    error_code: str
    error_message: str
    request_id: str  # of the step's last ESA call

    is_incident_step = True  # what the template tells it from an Operation by

    @property
    def short_id(self) -> str:
        return self.plan_esa_id[-8:]


class Holds(Protocol):
    """The holds of prefetch, as prefetch's pages, sync and selectors read them."""

    def __hash__(self) -> int: ...  # selectors cache what they build with it

    def hold_refusal(self, site: Site) -> str:
        """Why the dashboard will not start, reset, edit or add plans on `site` now ("" if it will)."""
        ...

    def site_held(self, site_id: int) -> bool:
        """Whether an active hold covers the site (what `hold_refusal` says, cheaply)."""
        ...

    def every_site_hold(self) -> object | None:
        """The active hold of every site (shown with its `pk`), if any."""
        ...

    def site_holds(self, site: Site) -> object | None:
        """The active holds covering `site`, as its page shows them (`own`, `everywhere`, `covering`)."""
        ...

    def held_site_watch(self) -> Callable[[Site], bool]:
        """For the sync: whether a site is under an active hold (its plans are then all read)."""
        ...

    def fan_out_sites(self) -> Callable[[Site], bool]:
        """For the sync: whether an incident's fan-out is working on a site now (left out of the cycle)."""
        ...

    def holds_enforce(self) -> int:
        """After each sync: hold what started in an active hold's scope since; returns the steps added."""
        ...

    def plan_held(self, plan_esa_id: OuterRef) -> Exists | Value:
        """Whether a hold holds the plan whose ESA id `plan_esa_id` names now, as a boolean
        expression: to count, filter or annotate plans in the same query."""
        ...

    def plans_held(self, plan_esa_ids: Collection[str]) -> Mapping[str, object]:
        """What holds each of these plans now, by ESA id (the job page's rows show it)."""
        ...

    def job_steps(self, job: Job, shown: int) -> list[IncidentStep]:
        """The last `shown` things holds did to the job's plans, newest first."""
        ...

    def job_steps_total(self, site_id: OuterRef) -> Subquery | Value:
        """A number that changes whenever a step of a hold open on the site changes, or such a hold
        opens or closes (None when none is open), as an expression over jobs."""
        ...

    def job_steps_digest(self, job: Job) -> str:
        """That number for the job's site ("" when no hold is open there); read from the job's
        `steps_incidents` when `job_steps_total` annotated it."""
        ...

    def job_steps_unsettled(self, job: Job) -> bool:
        """Whether an open hold has a step on the job's plans not yet settled."""
        ...


class NoHolds:
    """Nothing is held: what prefetch sees when no app registered its holds."""

    def hold_refusal(self, site: Site) -> str:
        return ""

    def site_held(self, site_id: int) -> bool:
        return False

    def every_site_hold(self) -> object | None:
        return None

    def site_holds(self, site: Site) -> object | None:
        return None

    def held_site_watch(self) -> Callable[[Site], bool]:
        return lambda site: False

    def fan_out_sites(self) -> Callable[[Site], bool]:
        return lambda site: False

    def holds_enforce(self) -> int:
        return 0

    def plan_held(self, plan_esa_id: OuterRef) -> Exists | Value:
        return Value(False, output_field=BooleanField())

    def plans_held(self, plan_esa_ids: Collection[str]) -> Mapping[str, object]:
        return {}

    def job_steps(self, job: Job, shown: int) -> list[IncidentStep]:
        return []

    def job_steps_total(self, site_id: OuterRef) -> Subquery | Value:
        return Value(None, output_field=BigIntegerField())

    def job_steps_digest(self, job: Job) -> str:
        return ""

    def job_steps_unsettled(self, job: Job) -> bool:
        return False


_registered: Holds = NoHolds()


def holds_register(implementation: Holds) -> None:
    """Make `implementation` what prefetch asks about holds (called once, from an AppConfig.ready())."""
    global _registered
    _registered = implementation


def holds() -> Holds:
    """The registered holds (`NoHolds` when none is)."""
    return _registered
