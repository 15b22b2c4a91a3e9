"""A sync cycle that ESA throttles backs off: a warning, no ERROR, the mirror as it was; the next
cycle tries again. Against the simulator over HTTP (its clock held still, so that its second stays
full) and the session's real Redis."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_django import Settings

from prefetch_ui.core.workers import redis_connection
from prefetch_ui.esa import PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SimConfig
from prefetch_ui.esa_sim.testing import ManualClock, running_simulator
from prefetch_ui.prefetch.models import Job, Plan, Site
from prefetch_ui.prefetch.services.sync_cycles import SYNC_LOCK_KEY
from prefetch_ui.prefetch.tasks import esa_sync_task

pytestmark = pytest.mark.django_db


def _mirror() -> list[list[dict[str, Any]]]:
    return [
        [dict(row) for row in Site.objects.order_by("pk").values()],
        [dict(row) for row in Job.objects.order_by("pk").values()],
        [dict(row) for row in Plan.objects.order_by("pk").values()],
    ]


def test_a_throttled_sync_cycle_warns_and_leaves_the_mirror_as_it_was(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    with running_simulator(SimConfig(state_path=tmp_path / "sim.sqlite3"), real_time=clock) as sim:
        settings.ESA_ENDPOINT = sim.url
        settings.ESA_ACCESS_KEY_ID = sim.access_key_id
        settings.ESA_ACCESS_KEY_SECRET = sim.access_key_secret
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        with sim.client() as esa:
            job = esa.create_scheduled_preload_job(
                site_id=DEMO_SITE_ID, name="Homepage", urls=["https://example.com/"]
            )
            esa.create_scheduled_preload_executions(
                job.id, [PlanSpec(start, start + timedelta(hours=1), 60, 1)]
            )
            esa_sync_task()
            before = _mirror()
            assert Job.objects.filter(esa_id=job.id).exists() and Plan.objects.exists()

            # Deleted in the console: a cycle that went on regardless would drop it from the mirror.
            esa.delete_scheduled_preload_job(job.id)
            # ESA allows 2 calls a second; one is spent, and its second stays full (the simulator's
            # clock stands still) with 1 ms to go: the cycle's site listing passes, then its job
            # listing is refused on every try, each retry coming after ESA's short retry-after.
            sim.simulator.config = replace(sim.simulator.config, max_qps=2)
            esa.list_sites()
            clock.forward(0.999)
            calls = len(sim.calls())

            caplog.set_level(logging.INFO)
            esa_sync_task()
        refused = [call["code"] for call in sim.calls()[calls:] if call["action"] != "ListSites"]

    assert len(refused) > 1 and set(refused) == {"TooManyRequests"}  # the client retried first
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [
        record
        for record in caplog.records
        if record.name == "prefetch_ui.prefetch.tasks"
        and record.levelno == logging.WARNING
        and "backing off" in record.getMessage()
    ]
    # Nothing written: the job deleted in ESA is still mirrored, no site shows an error.
    assert _mirror() == before
    # The cycle let its lock go: the next one runs.
    assert redis_connection().get(SYNC_LOCK_KEY) is None
