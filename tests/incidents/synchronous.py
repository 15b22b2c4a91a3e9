"""Incidents carried out in the test's own thread, against a simulator on a clock the test moves.

The services are the real ones; only the hand-off to Celery is replaced: instead of publishing a
drainer, the test drains the incident itself (`Estate.drain`), so each step of a test ends with its
ESA calls made, and time moves only when the test says (`Estate.forward`). Django's clock follows
the simulator's, so "a window passed during the hold" means the same to both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import EsaSimulator, SimConfig
from prefetch_ui.esa_sim.testing import ManualClock
from prefetch_ui.incidents.models import HeldPlan, Incident, StepState
from prefetch_ui.incidents.selectors import held_site_watch
from prefetch_ui.incidents.services import holds, resumes, steps
from prefetch_ui.incidents.services.holds import hold_prepare, holds_enforce
from prefetch_ui.incidents.services.steps import incident_drain, incident_settle
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.mounted_esa import mounted_client


@dataclass
class Estate:
    """ESA (a simulator in this thread) and the dashboard's incidents, moved one step at a time."""

    sim: EsaSimulator
    esa: EsaClient
    clock: ManualClock
    prepared: set[int] = field(default_factory=set)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now, UTC)

    def forward(self, seconds: float) -> None:
        self.clock.forward(seconds)

    def drain(self, incident: Incident | int) -> None:
        """Carry out the incident's work as the workers would: list the plans, make the calls."""
        incident_id = incident if isinstance(incident, int) else incident.pk
        hold_prepare(incident_id=incident_id)
        while HeldPlan.objects.filter(incident_id=incident_id, state=StepState.PENDING).exists():
            incident_drain(incident_id=incident_id, client=self.esa)
        incident_settle(incident_id=incident_id)

    def drain_all(self) -> None:
        for incident_id in Incident.objects.values_list("pk", flat=True):
            self.drain(incident_id)

    def sync(self) -> None:
        """One cycle of the sync, then what the hold does with what it found."""
        esa_sync(client=self.esa, watched=held_site_watch())
        holds_enforce()
        self.drain_all()

    def submitted(self, job_id: str) -> int:
        """URLs of the job ESA has submitted by now (reading it makes the simulator catch up)."""
        return self.esa.get_scheduled_preload_job(job_id).url_submitted


@contextmanager
def synchronous_estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
    clock = ManualClock()
    clock.now = float(int(clock.now))  # whole seconds: ESA's times have no fraction
    monkeypatch.setattr(timezone, "now", clock.moment)
    # The test drains; nothing is published for a worker to pick up later.
    for module in (holds, resumes, steps):
        monkeypatch.setattr(module, "drainers_dispatch", lambda incident_id: 0)
    monkeypatch.setattr(holds, "prepare_dispatch", lambda incident_id: None)
    simulator = EsaSimulator(SimConfig(state_path=tmp_path / "sim.sqlite3"), real_time=clock)
    with closing(simulator) as sim, mounted_client(sim) as esa:
        yield Estate(sim=sim, esa=esa, clock=clock)


def minutes(count: float) -> timedelta:
    return timedelta(minutes=count)
