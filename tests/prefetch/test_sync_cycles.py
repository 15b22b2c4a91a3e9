"""Sync cycles never overlap: a cycle due while another runs is skipped and counted; a lock left by
a process that died is taken over. Against the simulator and the session's real Redis."""

from __future__ import annotations

import json

import pytest
import redis

from prefetch_ui.core.metrics import SYNC_SKIPPED
from prefetch_ui.core.workers import ALIVE_SECONDS, KEY_PREFIX, redis_connection, worker_id
from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.services.sync_cycles import SYNC_LOCK_KEY, sync_cycle_alone
from prefetch_ui.prefetch.tasks import esa_sync_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def lock_free() -> redis.Redis:
    connection = redis_connection()
    connection.delete(SYNC_LOCK_KEY, SYNC_SKIPPED.key)
    return connection


def _skipped(connection: redis.Redis) -> int:
    return int(connection.hget(SYNC_SKIPPED.key, json.dumps([])) or 0)


def test_a_cycle_due_while_another_runs_is_skipped_and_counted(
    esa: EsaClient, sim: RunningSimulator, lock_free: redis.Redis
) -> None:
    # This process beats as a worker process does (a cycle runs in one), for the length of the test.
    beat = KEY_PREFIX + worker_id()
    lock_free.set(beat, json.dumps({"queues": ["celery"], "at": 0}), ex=60)
    with sync_cycle_alone() as alone:
        assert alone
        calls = len(sim.calls())
        esa_sync_task()  # beat's next cycle, while this one holds the lock
        assert len(sim.calls()) == calls and not Site.objects.exists()
        assert _skipped(lock_free) == 1
    # Released: the next cycle runs, and lets the lock go after.
    esa_sync_task()
    assert len(sim.calls()) > calls and Site.objects.exists()
    assert lock_free.get(SYNC_LOCK_KEY) is None and _skipped(lock_free) == 1
    lock_free.delete(beat)


def test_a_cycle_whose_process_died_does_not_stop_the_next(
    esa: EsaClient, sim: RunningSimulator, lock_free: redis.Redis
) -> None:
    # Held by a process with no heartbeat (killed in its cycle): taken over at once.
    lock_free.set(SYNC_LOCK_KEY, "gone-host:4242|cafe", ex=900)
    esa_sync_task()
    assert Site.objects.exists() and _skipped(lock_free) == 0
    assert lock_free.get(SYNC_LOCK_KEY) is None


def test_a_cycle_held_by_a_live_process_is_not_taken_over(lock_free: redis.Redis) -> None:
    # Another worker process, beating, is in its cycle.
    other = "other-host:99"
    lock_free.set(KEY_PREFIX + other, json.dumps({"queues": ["celery"], "at": 0}), ex=ALIVE_SECONDS)
    try:
        lock_free.set(SYNC_LOCK_KEY, f"{other}|beef", ex=900)
        with sync_cycle_alone() as alone:
            assert not alone
        assert lock_free.get(SYNC_LOCK_KEY) == f"{other}|beef".encode() and _skipped(lock_free) == 1
    finally:
        lock_free.delete(SYNC_LOCK_KEY, KEY_PREFIX + other)
