"""Metrics that every process records in Redis, and that `/metrics` reads back at scrape time.

Web processes (several gunicorn workers) and Celery workers (possibly on other machines) share only
Redis and the database, so prometheus_client's per-process registry would show one process's share
of the work, and its multiprocess mode shares files on one machine only. Instead each counter and
histogram is a Redis hash under `prefetch:metrics:`: a field per label set (and per bucket), added to
with HINCRBY / HINCRBYFLOAT, which Redis applies atomically whoever sends them. The web process's
collector (`metrics_collector.py`) turns the hashes into Prometheus families when scraped. Buckets
are stored as they are hit, one field each, and made cumulative at scrape time, so an observation
costs one pipeline of three commands.

Recording never fails nor slows the work it measures: Redis errors are swallowed, the first one of an
outage is logged, and for `PAUSE_SECONDS` afterwards nothing is sent (a Redis that does not answer
would otherwise cost a connect timeout per ESA call). What happens meanwhile is not counted.
Counters restart from zero when Redis loses its data, which Prometheus reads as a counter reset.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import redis
from django.conf import settings

if TYPE_CHECKING:
    from redis.client import Pipeline

__all__ = [
    "BUDGET_WAIT_SECONDS",
    "ESA_CALLS",
    "ESA_CALL_SECONDS",
    "SYNC_LAST_SUCCESS_KEY",
    "SYNC_SECONDS",
    "SYNC_SKIPPED",
    "MetricsRecorder",
    "metrics_recorder",
    "sync_observed",
]

logger = logging.getLogger(__name__)

KEY_PREFIX = "prefetch:metrics:"
# When the last sync cycle succeeded (epoch seconds), for /readyz and the sync lag. Kept in Redis, not
# the database: it changes every few seconds, and on SQLite each write would take the write lock from
# the workers; losing it (a Redis restart) costs one sync period of "never".
SYNC_LAST_SUCCESS_KEY = "prefetch:sync:last-success"
# How long recording stays off after Redis failed (it is tried again after that).
PAUSE_SECONDS = 5.0
_TIMEOUT_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Counter:
    """A counter kept in the Redis hash `key`: one field per label set (a JSON list of values)."""

    key: str
    name: str
    documentation: str
    labels: tuple[str, ...]

    def add(self, pipe: Pipeline, values: Sequence[str], amount: int = 1) -> None:
        pipe.hincrby(self.key, json.dumps(list(values)), amount)


@dataclass(frozen=True, slots=True)
class Histogram:
    """A histogram kept in the Redis hash `key`: per label set, one field per bucket hit (its upper
    bound, not cumulative) and one for the sum; the count is the sum of the buckets."""

    key: str
    name: str
    documentation: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]

    def observe(self, pipe: Pipeline, values: Sequence[str], amount: float) -> None:
        bound = next((f"{upper:g}" for upper in self.buckets if amount <= upper), "+Inf")
        pipe.hincrby(self.key, json.dumps([*values, bound]), 1)
        pipe.hincrbyfloat(self.key, json.dumps([*values, "sum"]), amount)


ESA_CALLS = Counter(
    # A hash of its own since the `caller` label came: the fields of the old one have fewer values.
    KEY_PREFIX + "esa_calls_by_caller",
    "prefetch_esa_calls",
    "Requests sent to ESA, retries included, by action, answer code (OK, ESA's error Code, "
    "HTTP<status>, ConnectionFailed, NoAnswer) and the caller's class in the call budget "
    "(incident: a hold's or a resume's steps; routine: the sync and operations).",
    ("action", "code", "caller"),
)
ESA_CALL_SECONDS = Histogram(
    KEY_PREFIX + "esa_call_seconds",
    "prefetch_esa_call_duration_seconds",
    "Time from sending a request to ESA to its answer (or failure), by action; budget waits excluded.",
    ("action",),
    (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUDGET_WAIT_SECONDS = Histogram(
    KEY_PREFIX + "esa_budget_wait_seconds",
    "prefetch_esa_budget_wait_seconds",
    "Time each ESA request waited for the shared call budget (PREFETCH_ESA_CALLS_PER_SECOND).",
    (),
    (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
SYNC_SKIPPED = Counter(
    KEY_PREFIX + "sync_skipped",
    "prefetch_sync_skipped",
    "Sync cycles not run because the one before was still running (cycles never overlap).",
    (),
)
SYNC_SECONDS = Histogram(
    KEY_PREFIX + "sync_seconds",
    "prefetch_sync_duration_seconds",
    "Duration of each sync cycle of the mirror with ESA, by result (ok, failed).",
    ("result",),
    (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


class MetricsRecorder:
    """Adds to the metrics in Redis. Thread-safe; never raises."""

    def __init__(self, redis_url: str) -> None:
        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=_TIMEOUT_SECONDS, socket_connect_timeout=_TIMEOUT_SECONDS
        )
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._failing = False

    def esa_call(self, action: str, code: str, seconds: float, *, caller: str = "routine") -> None:
        """One request to ESA (the ESA client's `on_call` observer), by a caller of that budget class."""

        def record(pipe: Pipeline) -> None:
            ESA_CALLS.add(pipe, (action, code[:100], caller))
            ESA_CALL_SECONDS.observe(pipe, (action,), seconds)

        self._write(record)

    def budget_wait(self, seconds: float) -> None:
        """One wait for the shared ESA call budget, however short."""
        self._write(lambda pipe: BUDGET_WAIT_SECONDS.observe(pipe, (), seconds))

    def sync_finished(self, *, seconds: float, ok: bool) -> None:
        """One sync cycle ended; when it succeeded, readiness and the sync lag count from now."""

        def record(pipe: Pipeline) -> None:
            SYNC_SECONDS.observe(pipe, ("ok" if ok else "failed",), seconds)
            if ok:
                pipe.set(SYNC_LAST_SUCCESS_KEY, repr(time.time()))

        self._write(record)

    def sync_skipped(self) -> None:
        """A sync cycle was due while the one before was still running, and did not run."""
        self._write(lambda pipe: SYNC_SKIPPED.add(pipe, ()))

    def _write(self, record: Callable[[Pipeline], None]) -> None:
        if time.monotonic() < self._paused_until:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            record(pipe)
            pipe.execute()
        except redis.RedisError as error:
            with self._lock:
                self._paused_until = time.monotonic() + PAUSE_SECONDS
                first, self._failing = not self._failing, True
            if first:
                logger.warning("metrics: Redis unavailable (%s); not recording until it answers", error)
            return
        if self._failing:
            with self._lock:
                self._failing = False
            logger.info("metrics: Redis answers again; recording")


@cache
def _recorder(redis_url: str) -> MetricsRecorder:
    return MetricsRecorder(redis_url)


def metrics_recorder() -> MetricsRecorder:
    """This process's recorder for settings.REDIS_URL (one connection pool per process)."""
    return _recorder(settings.REDIS_URL)


@contextmanager
def sync_observed() -> Iterator[None]:
    """Time the sync cycle run in the block, and record whether it succeeded (ended without raising)."""
    started = time.monotonic()
    try:
        yield
    except BaseException:
        metrics_recorder().sync_finished(seconds=time.monotonic() - started, ok=False)
        raise
    metrics_recorder().sync_finished(seconds=time.monotonic() - started, ok=True)
