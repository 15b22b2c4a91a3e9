"""A Celery worker outlives a Redis restart (prefetch_ui/core/broker.py): a real redis-server and a
real `celery worker` process with the project's Celery settings."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from prefetch_ui.dev.embedded_redis import redis_server_command
from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import terminate
from tests.core import broker_app
from tests.polling import eventually

REPO_DIR = Path(__file__).resolve().parents[2]


class _Redis:
    """A redis-server on a fixed port that the test can kill and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - the wheel's redis-server, fixed arguments
            redis_server_command(self.port, self._directory),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        eventually(self._answers, timeout=10, failure="redis-server did not start")

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        assert self._process is not None
        self._process.kill()
        self._process.wait()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            terminate(self._process, grace=5)


class _Worker:
    """`celery -A tests.core.broker_app worker`, its output kept (read on a thread)."""

    def __init__(self, redis_url: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            [
                *(sys.executable, "-m", "celery", "-A", "tests.core.broker_app", "worker"),
                *("--loglevel", "INFO", "--concurrency", "4", "--without-gossip", "--without-mingle"),
            ],
            cwd=REPO_DIR,
            env={**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            process_group=0,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        self.lines.extend(self.process.stdout)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def output(self) -> str:
        return "".join(self.lines[-60:])

    def kill(self) -> None:
        # The naps would keep a warm shutdown waiting: SIGKILL the whole group (its pool included).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[_Redis]:
    server = _Redis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_a_worker_outlives_a_redis_restart_with_unacknowledged_messages(restartable_redis: _Redis) -> None:
    """Redis dies while the worker waits in BRPOP holding unacknowledged messages (two tasks running
    with acks_late, threads to spare): kombu 5.7.0's own transport stops the worker then, with
    `Unrecoverable error: AttributeError(... 'hostname')`. With ours it reconnects and runs a task."""
    broker_app.app.conf.update(broker_url=restartable_redis.url)  # this process sends the tasks
    worker = _Worker(restartable_redis.url)
    try:
        eventually(lambda: worker.said("ready."), timeout=60, failure=worker.output)
        for _ in range(2):
            broker_app.nap.delay(120)
        client = redis.Redis.from_url(restartable_redis.url)
        # kombu keeps a delivered, unacknowledged message in its `unacked` hash.
        eventually(lambda: client.hlen("unacked") == 2, timeout=30, failure=worker.output)
        # Then the consumer goes back to waiting in BRPOP (it has threads to spare): where Redis's
        # death must find it.
        eventually(
            lambda: any(each.get("cmd") == "brpop" for each in client.client_list()),
            timeout=30,
            failure=worker.output,
        )

        restartable_redis.kill()
        eventually(lambda: worker.said("Connection to broker lost"), timeout=30, failure=worker.output)
        restartable_redis.start()

        broker_app.mark.delay("marked")
        eventually(
            lambda: client.get("marked") is not None or worker.said("Unrecoverable error"),
            timeout=60,
            failure=worker.output,
        )
        assert not worker.said("Unrecoverable error"), worker.output()
        assert client.get("marked") == b"1"
        assert worker.process.poll() is None, worker.output()
    finally:
        worker.kill()
