"""The tests' embedded Celery worker is alive in Redis as a `celery worker` process is."""

from __future__ import annotations

import pytest

from prefetch_ui.core.workers import live_workers, worker_id
from tests.polling import eventually


@pytest.mark.django_db
@pytest.mark.usefixtures("celery_worker")
def test_the_embedded_worker_beats_for_both_queues() -> None:
    # Without it, a drainer that runs out of steps takes its sibling's claim, still under way, for
    # a dead worker's and hands the step out again: the same ESA call twice.
    alive = eventually(live_workers, timeout=10, failure="the embedded worker never beat")
    assert set(alive[worker_id()]["queues"]) == {"celery", "incidents"}
