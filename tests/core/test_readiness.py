"""/readyz: ready with a real worker beating and a recent sync; failing, with its reason, for each
dependency down."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connections
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from prefetch_ui.core.metrics import SYNC_LAST_SUCCESS_KEY
from prefetch_ui.core.workers import KEY_PREFIX, LAST_BEAT_KEY
from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.tasks import esa_sync_task
from tests.incidents.test_workers import worker_process
from tests.polling import eventually


@pytest.fixture(autouse=True)
def _thresholds(settings: Settings) -> None:
    """The defaults for the default sync period, whatever the environment says."""
    settings.PREFETCH_READY_WORKER_MAX_AGE = 10
    settings.PREFETCH_READY_SYNC_MAX_AGE = 60


@pytest.fixture
def state(broker: str) -> Iterator[redis.Redis]:
    """The session's Redis with no heartbeat and no sync recorded by earlier tests."""
    connection = redis.Redis.from_url(broker)
    for key in [*connection.scan_iter(match=f"{KEY_PREFIX}*"), LAST_BEAT_KEY, SYNC_LAST_SUCCESS_KEY]:
        connection.delete(key)
    yield connection
    connection.close()


def ready(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get(reverse("readyz"))
    assert response["Cache-Control"].startswith("max-age=0")
    return response.status_code, response.json()


def recorded(connection: redis.Redis, *, beat_ago: float | None, sync_ago: float | None) -> None:
    """Pretend a worker beat and a sync succeeded that many seconds ago (None: never)."""
    for key, ago in ((LAST_BEAT_KEY, beat_ago), (SYNC_LAST_SUCCESS_KEY, sync_ago)):
        if ago is not None:
            connection.set(key, repr(time.time() - ago))


@pytest.mark.django_db(transaction=True)
def test_ready_with_a_real_worker_beating_and_a_recent_sync(
    esa: EsaClient, sim: RunningSimulator, broker: str, state: redis.Redis, client: Client, tmp_path: Path
) -> None:
    status, body = ready(client)
    assert status == 503  # nothing has run yet
    assert set(body["failing"]) == {
        "worker: no worker heartbeat recorded (threshold 10 s)",
        "sync: no successful sync recorded: never (threshold 60 s)",
    }

    with worker_process(sim, broker, tmp_path / "worker.log"):
        esa_sync_task.delay()  # as beat sends it; the worker process runs it

        def answered_ready() -> tuple[int, dict[str, Any]] | None:
            answer = ready(client)
            return answer if answer[0] == 200 else None

        status, body = eventually(
            answered_ready,
            timeout=60,
            interval=0.5,
            failure=lambda: f"never ready: {ready(client)}\n{(tmp_path / 'worker.log').read_text()[-3000:]}",
        )

    assert body["status"] == "ok" and "failing" not in body
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "worker": True,
        "sync": True,
    }
    assert body["checks"]["worker"]["detail"].startswith("1 worker process alive, last heartbeat")


@pytest.mark.django_db
def test_database_unreachable(
    client: Client, state: redis.Redis, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    recorded(state, beat_ago=1, sync_ago=1)
    # New connections (the check opens one) go where no database is; this test's own stays open.
    database = connections["default"].settings_dict
    if database["ENGINE"] == "django.db.backends.sqlite3":
        monkeypatch.setitem(database, "NAME", str(Path(settings.BASE_DIR) / "no-such-folder" / "db.sqlite3"))
    else:
        monkeypatch.setitem(database, "HOST", "127.0.0.1")
        monkeypatch.setitem(database, "PORT", str(closed_port))

    status, body = ready(client)

    assert status == 503
    (failing,) = body["failing"]
    assert failing.startswith("database: OperationalError: ")
    assert {name for name, check in body["checks"].items() if check["ok"]} == {"redis", "worker", "sync"}


@pytest.mark.django_db
def test_redis_unreachable(client: Client, settings: Settings, closed_port: int) -> None:
    port = closed_port
    settings.REDIS_URL = f"redis://:hunter2-redis-password@127.0.0.1:{port}/0"

    status, body = ready(client)

    assert status == 503
    failing = dict(reason.split(": ", 1) for reason in body["failing"])
    assert set(failing) == {"redis", "worker", "sync"}  # the last two live in Redis too
    assert f"127.0.0.1:{port}" in failing["redis"] and "refused" in failing["redis"]
    assert body["checks"]["database"]["ok"]
    assert "hunter2-redis-password" not in str(body)


@pytest.mark.django_db
def test_a_redis_that_never_answers_fails_within_the_time_box(client: Client, settings: Settings) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        settings.PREFETCH_READY_TIMEOUT = 0.5

        status, body = ready(client)

    assert status == 503
    assert body["checks"]["redis"]["detail"].startswith("TimeoutError: ")
    assert body["checks"]["database"]["ok"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("beat_ago", "reason"),
    [
        (12, "worker: no heartbeat in 12 s (threshold 10 s)"),
        (None, "worker: no worker heartbeat recorded (threshold 10 s)"),
    ],
)
def test_no_worker_heartbeat(client: Client, state: redis.Redis, beat_ago: float | None, reason: str) -> None:
    recorded(state, beat_ago=beat_ago, sync_ago=1)

    status, body = ready(client)

    assert (status, body["failing"]) == (503, [reason])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sync_ago", "reason"),
    [
        (95, "sync: last success 95 s ago (threshold 60 s)"),
        (None, "sync: no successful sync recorded: never (threshold 60 s)"),
    ],
)
def test_sync_too_old(client: Client, state: redis.Redis, sync_ago: float | None, reason: str) -> None:
    recorded(state, beat_ago=1, sync_ago=sync_ago)

    status, body = ready(client)

    assert (status, body["failing"]) == (503, [reason])


@pytest.mark.django_db
def test_thresholds_are_settings(client: Client, state: redis.Redis, settings: Settings) -> None:
    settings.PREFETCH_READY_WORKER_MAX_AGE = 20
    settings.PREFETCH_READY_SYNC_MAX_AGE = 120
    recorded(state, beat_ago=12, sync_ago=95)

    status, body = ready(client)

    assert status == 200, body
    assert body["checks"]["sync"]["detail"].startswith("last success 95")
