"""Exactly `PREFETCH_INCIDENT_DRAINERS` drainers per incident, counted in the real Redis from the
moment each is sent until it ends: queued, received by a worker (not started) or running."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import worker_ready
from django.contrib.auth.models import User
from pytest_django import Settings

from prefetch_ui.celery import app as celery_app
from prefetch_ui.core.workers import KEY_PREFIX, heartbeat_stop, worker_id
from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import HeldPlan, Incident, StepState
from prefetch_ui.incidents.services import drainers, steps
from prefetch_ui.incidents.services.drainers import (
    INCIDENTS_QUEUE,
    RESERVATION_UNSEEN_AFTER,
    drainers_dispatch,
    drainers_registry_key,
)
from prefetch_ui.incidents.services.holds import hold_prepare, hold_request, incidents_sweep
from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.polling import eventually

DRAINERS = 4
# No incident of any test has this id: messages sent for it find nothing to do if a later test's
# worker runs them.
NOWHERE = 999_000


@pytest.fixture
def connection(broker: str, settings: Settings) -> Iterator[redis.Redis]:
    """The session's Redis, with no drainer registry and an empty incidents queue before and after."""
    settings.PREFETCH_INCIDENT_DRAINERS = DRAINERS
    connection = redis.Redis.from_url(broker, decode_responses=True)

    def empty() -> None:
        connection.delete(INCIDENTS_QUEUE, *connection.scan_iter(match=drainers_registry_key(0)[:-1] + "*"))

    empty()
    yield connection
    empty()
    connection.close()


def _registry(connection: redis.Redis, incident_id: int) -> dict[str, str]:
    return {
        str(token): str(entry)
        for token, entry in connection.hgetall(drainers_registry_key(incident_id)).items()
    }


def _states(connection: redis.Redis, incident_id: int) -> Counter[str]:
    return Counter(entry.split(" ", 1)[0] for entry in _registry(connection, incident_id).values())


def _queued_drainers(connection: redis.Redis, incident_id: int) -> list[str]:
    """The task ids of the incident's drainers waiting in the queue's list."""
    ids = []
    for raw in connection.lrange(INCIDENTS_QUEUE, 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        if message["headers"]["task"].endswith("incident_drain_task") and args[0] == incident_id:
            ids.append(message["headers"]["id"])
    return ids


def _age(connection: redis.Redis, incident_id: int, token: str) -> None:
    """Make a reservation older than the time it counts without being seen in the queue."""
    sent = int(connection.time()[0]) - RESERVATION_UNSEEN_AFTER - 1
    connection.hset(drainers_registry_key(incident_id), token, f"sent {sent}")


# -- reserving ---------------------------------------------------------------------------------


def test_concurrent_dispatchers_never_send_more_than_the_number(connection: redis.Redis) -> None:
    dispatchers = 16
    ready = threading.Barrier(dispatchers)

    def dispatch(_: int) -> int:
        ready.wait()
        return drainers_dispatch(NOWHERE)

    with ThreadPoolExecutor(dispatchers) as pool:
        sent = list(pool.map(dispatch, range(dispatchers)))

    assert sum(sent) == DRAINERS
    registry = _registry(connection, NOWHERE)
    assert len(registry) == DRAINERS
    assert sorted(_queued_drainers(connection, NOWHERE)) == sorted(registry)


def test_dispatch_again_sends_none_while_every_drainer_is_still_queued(connection: redis.Redis) -> None:
    assert drainers_dispatch(NOWHERE) == DRAINERS
    for _ in range(20):
        assert drainers_dispatch(NOWHERE) == 0
    assert len(_queued_drainers(connection, NOWHERE)) == DRAINERS


def test_a_reservation_whose_message_is_lost_is_released_and_replaced(connection: redis.Redis) -> None:
    drainers_dispatch(NOWHERE)
    first = sorted(_registry(connection, NOWHERE))
    lost, kept = first[:1], first[1:]
    for raw in connection.lrange(INCIDENTS_QUEUE, 0, -1):
        if json.loads(raw)["headers"]["id"] in lost:
            connection.lrem(INCIDENTS_QUEUE, 0, str(raw))

    # Just sent, it may be on its way to the list or to a worker: it still counts.
    assert drainers_dispatch(NOWHERE) == 0
    # Long enough ago, a reservation counts only while its message is in the list.
    for token in first:
        _age(connection, NOWHERE, token)
    assert drainers_dispatch(NOWHERE) == len(lost)

    registry = _registry(connection, NOWHERE)
    assert len(registry) == DRAINERS
    assert set(kept) <= set(registry) and not set(lost) & set(registry)
    assert sorted(_queued_drainers(connection, NOWHERE)) == sorted(registry)


def test_drainers_of_a_worker_that_stopped_beating_are_released_and_replaced(
    connection: redis.Redis,
) -> None:
    drainers_dispatch(NOWHERE)
    connection.delete(INCIDENTS_QUEUE)  # taken from the list by two workers
    alive, dead = "alive-host:1", "dead-host:2"
    connection.set(KEY_PREFIX + alive, json.dumps({"queues": [INCIDENTS_QUEUE]}), ex=60)
    tokens = sorted(_registry(connection, NOWHERE))
    key = drainers_registry_key(NOWHERE)
    connection.hset(key, mapping={tokens[0]: f"run {alive}", tokens[1]: f"got {alive}"})
    connection.hset(key, mapping={tokens[2]: f"run {dead}", tokens[3]: f"got {dead}"})

    assert drainers_dispatch(NOWHERE) == 2

    registry = _registry(connection, NOWHERE)
    assert len(registry) == DRAINERS
    assert registry[tokens[0]] == f"run {alive}" and registry[tokens[1]] == f"got {alive}"
    assert tokens[2] not in registry and tokens[3] not in registry
    assert len(_queued_drainers(connection, NOWHERE)) == 2
    connection.delete(KEY_PREFIX + alive)


# -- starting and ending -------------------------------------------------------------------------


def _pending_hold(esa: EsaClient, operator: User, plans: int) -> Incident:
    """A hold of the demo site with `plans` waiting plans, listed as pending steps."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Night batch", urls=[f"https://example.com/{n}.css" for n in range(10)]
    )
    esa.create_scheduled_preload_executions(
        job.id,
        [PlanSpec(start + timedelta(minutes=n), start + timedelta(hours=3), 60, 5) for n in range(plans)],
    )
    esa_sync(client=esa)
    incident, _ = hold_request(user=operator, site=Site.objects.get(esa_id=DEMO_SITE_ID), reason="drill")
    return incident


@pytest.mark.django_db(transaction=True)
def test_a_drainer_without_a_place_ends_at_once_and_one_that_ends_frees_its_place(
    connection: redis.Redis, esa: EsaClient, operator: User
) -> None:
    incident = _pending_hold(esa, operator, 3)
    hold_prepare(incident.pk)  # no worker: its drainers wait in the queue, their places taken
    assert len(_registry(connection, incident.pk)) == DRAINERS

    assert steps.incident_drain(incident_id=incident.pk, client=esa, reservation="late-drainer") == 0
    assert HeldPlan.objects.filter(incident=incident, state=StepState.PENDING).count() == 3
    assert len(_registry(connection, incident.pk)) == DRAINERS

    token = sorted(_registry(connection, incident.pk))[0]
    assert steps.incident_drain(incident_id=incident.pk, client=esa, reservation=token) == 3
    assert token not in _registry(connection, incident.pk)
    assert len(_registry(connection, incident.pk)) == DRAINERS - 1
    incident.refresh_from_db()
    assert incident.status == "held"


@pytest.mark.django_db(transaction=True)
def test_the_sweep_sends_none_while_drainers_are_received_but_not_started(
    connection: redis.Redis, esa: EsaClient, operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real worker with one thread that takes four messages: one drainer runs (held in its first
    claim until the test lets it go), three wait received, in neither the list nor running."""
    go = threading.Event()
    claim = steps.step_claim
    started: list[str | None] = []
    start = drainers.drainer_start

    def held_claim(incident_id: int, worker: str) -> HeldPlan | None:
        go.wait(timeout=120)
        return claim(incident_id, worker)

    def counted_start(**kwargs: object) -> str | None:
        place = start(**kwargs)  # type: ignore[arg-type]
        started.append(place)
        return place

    monkeypatch.setattr(steps, "step_claim", held_claim)
    monkeypatch.setattr(steps, "drainer_start", counted_start)
    incident = _pending_hold(esa, operator, 6)
    hold_prepare(incident.pk)
    assert len(_queued_drainers(connection, incident.pk)) == DRAINERS

    with start_worker(
        celery_app,
        pool="threads",
        concurrency=1,
        prefetch_multiplier=DRAINERS,
        perform_ping_check=False,
        shutdown_timeout=60,
    ) as worker:
        worker_ready.send(sender=worker)  # its heartbeat, as `celery worker` starts it
        try:
            eventually(
                lambda: _states(connection, incident.pk) == Counter(run=1, got=DRAINERS - 1),
                failure=lambda: f"the worker never took them all: {_registry(connection, incident.pk)}",
            )
            assert not _queued_drainers(connection, incident.pk)
            assert {entry.split(" ", 1)[1] for entry in _registry(connection, incident.pk).values()} == {
                worker_id()
            }
            for _ in range(10):
                assert incidents_sweep() == []  # as beat does every second
            assert len(_registry(connection, incident.pk)) == DRAINERS
            assert not _queued_drainers(connection, incident.pk)

            go.set()
            eventually(
                lambda: (
                    Incident.objects.get(pk=incident.pk).status == "held"
                    and not _registry(connection, incident.pk)
                ),
                timeout=60,
                failure=lambda: f"never held, or places kept: {_registry(connection, incident.pk)}",
            )
        finally:
            go.set()
            heartbeat_stop()

    assert len(started) == DRAINERS and all(started)
    assert HeldPlan.objects.filter(incident=incident, state=StepState.DONE).count() == 6
