"""The incidents app's answers to what prefetch asks about holds (`prefetch_ui.prefetch.holds`),
registered in IncidentsConfig.ready(): prefetch never imports incidents."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from django.db.models import Exists, OuterRef, Subquery, Value

from prefetch_ui.prefetch.holds import IncidentStep
from prefetch_ui.prefetch.models import Job, Site

from . import job_steps, selectors
from .models import HeldPlan, Incident
from .services.holds import holds_enforce


class IncidentHolds:
    """`prefetch_ui.prefetch.holds.Holds`, read from incidents' rows."""

    def hold_refusal(self, site: Site) -> str:
        return selectors.hold_refusal(site)

    def site_held(self, site_id: int) -> bool:
        return selectors.site_held(site_id)

    def every_site_hold(self) -> Incident | None:
        return selectors.every_site_hold()

    def site_holds(self, site: Site) -> selectors.SiteHolds:
        return selectors.site_holds(site)

    def held_site_watch(self) -> Callable[[Site], bool]:
        return selectors.held_site_watch()

    def fan_out_sites(self) -> Callable[[Site], bool]:
        return selectors.fan_out_sites()

    def holds_enforce(self) -> int:
        return holds_enforce()

    def plan_held(self, plan_esa_id: OuterRef) -> Exists | Value:
        return Exists(selectors.holding_rows().filter(plan_esa_id=plan_esa_id))

    def plans_held(self, plan_esa_ids: Collection[str]) -> Mapping[str, HeldPlan]:
        return selectors.plans_held(plan_esa_ids=plan_esa_ids)

    def job_steps(self, job: Job, shown: int) -> list[IncidentStep]:
        return job_steps.job_incident_steps(job=job, shown=shown)

    def job_steps_total(self, site_id: OuterRef) -> Subquery | Value:
        return job_steps.open_incidents_total(site_id)

    def job_steps_digest(self, job: Job) -> str:
        return job_steps.open_incidents_digest(job)

    def job_steps_unsettled(self, job: Job) -> bool:
        return job_steps.job_steps_unsettled(job)
