"""A real Celery worker for the tests, in a thread of the test's process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker
from celery.signals import worker_ready

from prefetch_ui.celery import app as celery_app
from prefetch_ui.core.workers import heartbeat_stop


@contextmanager
def embedded_worker() -> Iterator[None]:
    """A real Celery worker consuming from the real Redis (both queues), beating in Redis as a worker
    process does: without a heartbeat its drainers' claims look lost, and one drainer hands another's
    step, still under way, to a third (the same ESA call twice)."""
    with start_worker(
        celery_app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=20
    ) as worker:
        # `celery worker` sends worker_ready (prefetch_ui.core.workers starts the heartbeat on it);
        # the embedded test worker does not.
        worker_ready.send(sender=worker)
        try:
            yield
        finally:
            heartbeat_stop()
