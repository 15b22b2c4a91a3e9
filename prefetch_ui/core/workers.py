"""Which Celery worker processes are alive, and which queues they consume: heartbeats in Redis.

Each worker process refreshes `prefetch:worker:<id>` every `BEAT_SECONDS`, with a time to live of
`ALIVE_SECONDS`: a process killed with SIGKILL disappears within that time. Work claimed in the
database names its claimer by `worker_id()`, so a claim by a dead process can be taken over at once
instead of after a long timeout, and a page can say "no worker is running" within seconds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from typing import Any

import redis
from django.conf import settings

__all__ = ["ALIVE_SECONDS", "LAST_BEAT_KEY", "live_workers", "redis_connection", "worker_id"]

logger = logging.getLogger(__name__)

KEY_PREFIX = "prefetch:worker:"
# The time of the latest heartbeat of any worker (epoch seconds), kept after the workers are gone, so
# that /readyz can say how long there has been none.
LAST_BEAT_KEY = "prefetch:workers:last-beat"
BEAT_SECONDS = 0.5
ALIVE_SECONDS = 3

_stop = threading.Event()
_thread: threading.Thread | None = None
_queues: list[str] = []


def worker_id() -> str:
    """This process, as claims and heartbeats name it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def redis_connection() -> redis.Redis:
    """A connection to the project's Redis (settings.REDIS_URL), with short timeouts."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def live_workers() -> dict[str, dict[str, Any]]:
    """The worker processes with a fresh heartbeat: id -> {"queues": [...], "at": epoch seconds}.

    Raises redis.RedisError when Redis cannot be reached: the caller cannot tell then.
    """
    connection = redis_connection()
    try:
        keys = list(connection.scan_iter(match=f"{KEY_PREFIX}*", count=500))
        values = connection.mget(keys) if keys else []
    finally:
        connection.close()
    alive: dict[str, dict[str, Any]] = {}
    for key, value in zip(keys, values, strict=True):
        if value is not None:
            alive[key.decode()[len(KEY_PREFIX) :]] = json.loads(value)
    return alive


def _beat() -> None:
    key = KEY_PREFIX + worker_id()
    connection = redis_connection()
    while not _stop.is_set():
        try:
            now = time.time()
            beat = connection.pipeline(transaction=False)
            beat.set(key, json.dumps({"queues": _queues, "at": now}), ex=ALIVE_SECONDS)
            beat.set(LAST_BEAT_KEY, repr(now))
            beat.execute()
        except redis.RedisError as error:
            logger.warning("worker heartbeat: Redis unavailable (%s)", error)
        _stop.wait(BEAT_SECONDS)
    with contextlib.suppress(redis.RedisError):
        connection.delete(key)


def heartbeat_start(queues: list[str]) -> None:
    """Start this process's heartbeat (idempotent)."""
    global _thread
    _queues[:] = sorted(queues)
    if _thread is not None and _thread.is_alive():
        return
    _stop.clear()
    _thread = threading.Thread(target=_beat, name="worker-heartbeat", daemon=True)
    _thread.start()


def heartbeat_stop() -> None:
    """Stop the heartbeat and remove it: a worker shutting down cleanly is gone at once."""
    global _thread
    _stop.set()
    if _thread is not None:
        _thread.join(timeout=3)
    _thread = None


def connect_worker_signals() -> None:
    from celery.signals import worker_process_init, worker_ready, worker_shutdown

    def queues_of(sender: Any) -> list[str]:
        consumer = getattr(sender, "consumer", sender)
        task_consumer = getattr(consumer, "task_consumer", None)
        return [queue.name for queue in getattr(task_consumer, "queues", [])] or ["celery"]

    def on_ready(sender: Any = None, **_: Any) -> None:
        heartbeat_start(queues_of(sender))

    def on_child(**_: Any) -> None:
        # A prefork child claims work under its own pid, so it beats for itself.
        heartbeat_start(list(_queues))

    def on_shutdown(**_: Any) -> None:
        heartbeat_stop()

    worker_ready.connect(on_ready, weak=False)
    worker_process_init.connect(on_child, weak=False)
    worker_shutdown.connect(on_shutdown, weak=False)
