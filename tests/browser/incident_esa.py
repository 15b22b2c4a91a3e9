"""What the incident browser tests ask the simulator and the mirror: plans as ESA has them, the
calls that changed a plan, and one sync cycle as beat runs it. The simulator there runs on the
test's clock, and so does Django's (`tests.one_clock`): see each module's `sim` fixture."""

from __future__ import annotations

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.incidents.selectors import held_site_watch
from prefetch_ui.prefetch.services.sync import esa_sync

# The calls that change a plan in ESA (a hold's and a resume's).
CHANGING_CALLS = (
    "StopScheduledPreloadExecution",
    "StartScheduledPreloadExecution",
    "UpdateScheduledPreloadExecution",
)


def plans_in_esa(esa: EsaClient, job_id: str) -> dict[str, EsaPlan]:
    return {plan.id: plan for plan in esa.list_scheduled_preload_executions(job_id).items}


def changing_calls(sim: RunningSimulator) -> list[str]:
    return [call["action"] for call in sim.calls() if call["action"] in CHANGING_CALLS]


def sync_once(esa: EsaClient) -> None:
    """One sync cycle, as beat's task runs it (a held site is read in full), done when this returns."""
    esa_sync(client=esa, watched=held_site_watch())
