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
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
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
    drainer_end,
    drainer_received,
    drainer_start,
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
        connection.delete(
            INCIDENTS_QUEUE, *connection.scan_iter(match=drainers_registry_key(incident_id=0)[:-1] + "*")
        )

    empty()
    yield connection
    empty()
    connection.close()


def _registry(connection: redis.Redis, incident_id: int) -> dict[str, str]:
    return {
        str(token): str(entry)
        for token, entry in connection.hgetall(drainers_registry_key(incident_id=incident_id)).items()
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
    connection.hset(drainers_registry_key(incident_id=incident_id), token, f"sent {sent}")


# -- reserving ---------------------------------------------------------------------------------


def test_concurrent_dispatchers_never_send_more_than_the_number(connection: redis.Redis) -> None:
    dispatchers = 16
    ready = threading.Barrier(dispatchers)

    def dispatch(_: int) -> int:
        ready.wait()
        return drainers_dispatch(incident_id=NOWHERE)

    with ThreadPoolExecutor(dispatchers) as pool:
        sent = list(pool.map(dispatch, range(dispatchers)))

    assert sum(sent) == DRAINERS
    registry = _registry(connection, NOWHERE)
    assert len(registry) == DRAINERS
    assert sorted(_queued_drainers(connection, NOWHERE)) == sorted(registry)


def test_dispatch_again_sends_none_while_every_drainer_is_still_queued(connection: redis.Redis) -> None:
    assert drainers_dispatch(incident_id=NOWHERE) == DRAINERS
    for _ in range(20):
        assert drainers_dispatch(incident_id=NOWHERE) == 0
    assert len(_queued_drainers(connection, NOWHERE)) == DRAINERS


def test_a_reservation_whose_message_is_lost_is_released_and_replaced(connection: redis.Redis) -> None:
    drainers_dispatch(incident_id=NOWHERE)
    first = sorted(_registry(connection, NOWHERE))
    lost, kept = first[:1], first[1:]
    for raw in connection.lrange(INCIDENTS_QUEUE, 0, -1):
        if json.loads(raw)["headers"]["id"] in lost:
            connection.lrem(INCIDENTS_QUEUE, 0, str(raw))

    # Just sent, it may be on its way to the list or to a worker: it still counts.
    assert drainers_dispatch(incident_id=NOWHERE) == 0
    # Long enough ago, a reservation counts only while its message is in the list.
    for token in first:
        _age(connection, NOWHERE, token)
    assert drainers_dispatch(incident_id=NOWHERE) == len(lost)

    registry = _registry(connection, NOWHERE)
    assert len(registry) == DRAINERS
    assert set(kept) <= set(registry) and not set(lost) & set(registry)
    assert sorted(_queued_drainers(connection, NOWHERE)) == sorted(registry)


def test_drainers_of_a_worker_that_stopped_beating_are_released_and_replaced(
    connection: redis.Redis,
) -> None:
    drainers_dispatch(incident_id=NOWHERE)
    connection.delete(INCIDENTS_QUEUE)  # taken from the list by two workers
    alive, dead = "alive-host:1", "dead-host:2"
    connection.set(KEY_PREFIX + alive, json.dumps({"queues": [INCIDENTS_QUEUE]}), ex=60)
    tokens = sorted(_registry(connection, NOWHERE))
    key = drainers_registry_key(incident_id=NOWHERE)
    connection.hset(key, mapping={tokens[0]: f"run {alive}", tokens[1]: f"got {alive}"})
    connection.hset(key, mapping={tokens[2]: f"run {dead}", tokens[3]: f"got {dead}"})

    assert drainers_dispatch(incident_id=NOWHERE) == 2

    registry = _registry(connection, NOWHERE)
    assert len(registry) == DRAINERS
    assert registry[tokens[0]] == f"run {alive}" and registry[tokens[1]] == f"got {alive}"
    assert tokens[2] not in registry and tokens[3] not in registry
    assert len(_queued_drainers(connection, NOWHERE)) == 2
    connection.delete(KEY_PREFIX + alive)


def test_when_redis_cannot_count_one_drainer_is_sent(
    connection: redis.Redis, settings: Settings, closed_port: int
) -> None:
    """The broker answers but the registry's Redis does not: one drainer keeps the incident moving
    (it asks for room when it starts), never the whole number again at each sweep."""
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    assert drainers_dispatch(incident_id=NOWHERE) == 1
    assert drainers_dispatch(incident_id=NOWHERE) == 1
    assert len(_queued_drainers(connection, NOWHERE)) == 2


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
    hold_prepare(incident_id=incident.pk)  # no worker: its drainers wait in the queue, their places taken
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
    claim = steps.steps_claim
    started: list[str | None] = []
    start = drainers.drainer_start

    def held_claim(*, incident_id: int, worker: str, count: int = steps.STEPS_A_CLAIM) -> list[HeldPlan]:
        go.wait(timeout=120)
        return claim(incident_id=incident_id, worker=worker, count=count)

    def counted_start(**kwargs: object) -> str | None:
        place = start(**kwargs)  # type: ignore[arg-type]
        started.append(place)
        return place

    monkeypatch.setattr(steps, "steps_claim", held_claim)
    monkeypatch.setattr(steps, "drainer_start", counted_start)
    incident = _pending_hold(esa, operator, 6)
    hold_prepare(incident_id=incident.pk)
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


# -- in every order of events ----------------------------------------------------------------------


class DrainerEvents(RuleBasedStateMachine):
    """Dispatches (clicks, sweeps, retries), workers taking messages from the list, starting and
    ending drainers, messages lost, workers dying and their unacknowledged messages coming back,
    time passing: never more than the number run, and a dispatch always leaves exactly the number,
    each of them real (queued, or received or running in a live worker)."""

    connection: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.connection.delete(INCIDENTS_QUEUE, drainers_registry_key(incident_id=NOWHERE))
        self.workers: list[str] = []
        self.alive: set[str] = set()
        self.received: dict[str, tuple[str, str]] = {}  # token -> (worker, raw message)
        self.running: dict[str, str] = {}  # place -> worker
        self.unacked: list[str] = []  # messages of dead workers, which kombu puts back later
        self.worker_starts()

    def teardown(self) -> None:
        self.connection.delete(
            INCIDENTS_QUEUE,
            drainers_registry_key(incident_id=NOWHERE),
            *(KEY_PREFIX + w for w in self.workers),
        )

    def _queued(self) -> list[str]:
        return _queued_drainers(self.connection, NOWHERE)

    @rule()
    def worker_starts(self) -> None:
        worker = f"machine-host:{len(self.workers) + 1}"
        self.connection.set(KEY_PREFIX + worker, json.dumps({"queues": [INCIDENTS_QUEUE]}), ex=600)
        self.workers.append(worker)
        self.alive.add(worker)

    @precondition(lambda self: self.alive)
    @rule(which=st.integers(min_value=0, max_value=7))
    def worker_dies(self, which: int) -> None:
        worker = sorted(self.alive)[which % len(self.alive)]
        self.connection.delete(KEY_PREFIX + worker)
        self.alive.discard(worker)
        for token, (owner, raw) in list(self.received.items()):
            if owner == worker:
                del self.received[token]
                self.unacked.append(raw)
        self.running = {place: owner for place, owner in self.running.items() if owner != worker}

    @precondition(lambda self: self.unacked)
    @rule()
    def unacked_restored(self) -> None:
        self.connection.lpush(INCIDENTS_QUEUE, self.unacked.pop(0))

    @rule()
    def dispatch(self) -> None:
        drainers_dispatch(incident_id=NOWHERE)
        registry = _registry(self.connection, NOWHERE)
        assert len(registry) == DRAINERS

    @precondition(lambda self: self.alive)
    @rule(which=st.integers(min_value=0, max_value=7))
    def worker_receives(self, which: int) -> None:
        raw = self.connection.rpop(INCIDENTS_QUEUE)  # as kombu's BRPOP
        if raw is None:
            return
        worker = sorted(self.alive)[which % len(self.alive)]
        token = json.loads(str(raw))["headers"]["id"]
        self.received[token] = (worker, str(raw))
        drainer_received(incident_id=NOWHERE, reservation=token, worker=worker)

    @precondition(lambda self: self.alive)
    @rule(which=st.integers(min_value=0, max_value=7))
    def worker_takes_every_message(self, which: int) -> None:
        """A worker with room for all of them (prefetch)."""
        while self.connection.llen(INCIDENTS_QUEUE):
            self.worker_receives(which)

    @precondition(lambda self: self.received)
    @rule(which=st.integers(min_value=0, max_value=7))
    def drainer_starts(self, which: int) -> None:
        # In the order received, not sorted: tokens are random uuids, and a sorted pick would differ
        # between two runs of the same steps, which Hypothesis rightly reports as a flaky strategy.
        token = list(self.received)[which % len(self.received)]
        worker, _ = self.received.pop(token)
        place = drainer_start(incident_id=NOWHERE, reservation=token, worker=worker)
        if place is not None:
            self.running[place] = worker

    @precondition(lambda self: self.received)
    @rule()
    def every_received_drainer_starts(self) -> None:
        while self.received:
            self.drainer_starts(0)

    @precondition(lambda self: self.running)
    @rule(which=st.integers(min_value=0, max_value=7))
    def drainer_ends(self, which: int) -> None:
        place = list(self.running)[which % len(self.running)]  # in the order started (see above)
        del self.running[place]
        drainer_end(incident_id=NOWHERE, token=place)

    @rule()
    def message_lost(self) -> None:
        self.connection.rpop(INCIDENTS_QUEUE)

    @rule()
    def time_passes_then_dispatch(self) -> None:
        for token, entry in _registry(self.connection, NOWHERE).items():
            if entry.startswith("sent "):
                _age(self.connection, NOWHERE, token)
        drainers_dispatch(incident_id=NOWHERE)
        registry = set(_registry(self.connection, NOWHERE))
        live_received = {token for token, (owner, _) in self.received.items() if owner in self.alive}
        assert len(registry) == DRAINERS
        assert registry <= set(self._queued()) | live_received | set(self.running)

    @invariant()
    def never_more_than_the_number(self) -> None:
        assert len(self.running) <= DRAINERS
        assert len(_registry(self.connection, NOWHERE)) <= DRAINERS


def test_drainers_keep_their_number_in_any_order_of_events(connection: redis.Redis) -> None:
    DrainerEvents.connection = connection
    run_state_machine_as_test(
        DrainerEvents,
        settings=hypothesis_settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_a_message_of_a_dead_worker_put_back_late_finds_no_place(connection: redis.Redis) -> None:
    """What the machine finds when a drainer without its reservation starts wherever there is room."""
    DrainerEvents.connection = connection
    state = DrainerEvents()
    try:
        state.dispatch()
        state.worker_receives(which=0)
        state.worker_starts()
        state.worker_dies(which=0)  # with a drainer received, not started
        state.dispatch()  # its place is given to a new drainer
        state.unacked_restored()  # kombu puts its message back
        state.worker_takes_every_message(which=0)
        state.every_received_drainer_starts()
        assert len(state.running) == DRAINERS
        state.never_more_than_the_number()
    finally:
        state.teardown()
