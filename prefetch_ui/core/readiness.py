"""Readiness: can the deployment do its work now? The checks behind `/readyz`.

- **database**: a `SELECT 1` on a fresh connection;
- **redis**: a PING (Celery's broker, the call budget, heartbeats and metrics live there);
- **worker**: some Celery worker process beat within `PREFETCH_READY_WORKER_MAX_AGE` seconds
  (`workers.LAST_BEAT_KEY`, which outlives the workers, so the answer says how long there has been none);
- **sync**: the last successful sync cycle ended within `PREFETCH_READY_SYNC_MAX_AGE` seconds
  (`metrics.SYNC_LAST_SUCCESS_KEY`).

The checks run at once, each in a thread of its own, and whatever has not answered within
`PREFETCH_READY_TIMEOUT` seconds fails as "no answer": a database host that drops packets must not
hang the probe (Redis gets the same timeout on its sockets; a database driver may have none). Each
failure says why in one line, with no password or key in it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import connections

from .metrics import SYNC_LAST_SUCCESS_KEY
from .workers import LAST_BEAT_KEY, live_workers

__all__ = ["CheckResult", "readiness_checks"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    # What was found: on success a fact ("2 worker processes alive, last heartbeat 0.3 s ago"), on
    # failure the reason.
    detail: str


class NotReady(Exception):
    """A check found the dependency there but not fit (no heartbeat, an old sync): the reason."""


def _database(timeout: float) -> str:
    # This thread's own connection, closed at the end: the check opens one each time, as a new
    # request would, rather than trusting a pooled connection that may be long dead.
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()
    return f"{connection.vendor} answers"


def _redis_client(timeout: float) -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)


def _redis(timeout: float) -> str:
    with _redis_client(timeout) as connection:
        connection.ping()
    return "answers PING"


def _age(key: str, threshold: float, timeout: float, *, never: str, stale: str) -> float:
    """Seconds since the time stamped in Redis at `key`, if within `threshold`; else NotReady with
    `never` (nothing stamped) or `stale` (formatted with `age`), each followed by the threshold."""
    with _redis_client(timeout) as connection:
        raw = connection.get(key)
    if raw is None:
        raise NotReady(f"{never} (threshold {threshold:g} s)")
    # Clocks of different machines differ a little: a time stamped "in the future" is fresh.
    age = max(0.0, time.time() - float(raw))
    if age > threshold:
        raise NotReady(f"{stale.format(age=age)} (threshold {threshold:g} s)")
    return age


def _worker(timeout: float) -> str:
    age = _age(
        LAST_BEAT_KEY,
        settings.PREFETCH_READY_WORKER_MAX_AGE,
        timeout,
        never="no worker heartbeat recorded",
        stale="no heartbeat in {age:.0f} s",
    )
    alive = len(live_workers())
    return f"{alive} worker process{'' if alive == 1 else 'es'} alive, last heartbeat {age:.1f} s ago"


def _sync(timeout: float) -> str:
    age = _age(
        SYNC_LAST_SUCCESS_KEY,
        settings.PREFETCH_READY_SYNC_MAX_AGE,
        timeout,
        never="no successful sync recorded: never",
        stale="last success {age:.0f} s ago",
    )
    return f"last success {age:.1f} s ago"


CHECKS: dict[str, Callable[[float], str]] = {
    "database": _database,
    "redis": _redis,
    "worker": _worker,
    "sync": _sync,
}


def _run(name: str, check: Callable[[float], str], timeout: float) -> CheckResult:
    try:
        return CheckResult(name, True, check(timeout))
    except NotReady as reason:
        return CheckResult(name, False, str(reason))
    except Exception as error:  # whatever the driver raises is the reason
        first_line = (str(error).strip().splitlines() or [""])[0]
        return CheckResult(name, False, _redacted(f"{type(error).__name__}: {first_line}"[:300]))


def _redacted(text: str) -> str:
    """Drivers put hosts and users in their messages, never (that we know of) a password: in case."""
    secrets = [
        settings.DATABASES["default"].get("PASSWORD") or "",
        urlsplit(settings.REDIS_URL).password or "",
        settings.SECRET_KEY,
        settings.ESA_ACCESS_KEY_SECRET,
    ]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def readiness_checks() -> list[CheckResult]:
    """Every check's result, in the order of CHECKS, within about PREFETCH_READY_TIMEOUT seconds."""
    timeout = settings.PREFETCH_READY_TIMEOUT
    executor = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readyz")
    try:
        futures = {name: executor.submit(_run, name, check, timeout) for name, check in CHECKS.items()}
        # A little past the sockets' own timeout, so that a slow Redis fails with its own reason.
        wait(futures.values(), timeout=timeout + 0.5)
    finally:
        # A check still hanging is left to its own timeout; the answer does not wait for it.
        executor.shutdown(wait=False, cancel_futures=True)
    return [
        future.result() if future.done() else CheckResult(name, False, f"no answer within {timeout:g} s")
        for name, future in futures.items()
    ]
