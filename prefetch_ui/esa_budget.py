"""One budget of ESA calls per second, shared by every worker process through Redis.

ESA limits calls per account; a hold fans out over many workers at once, and the sync keeps
calling meanwhile. Each `EsaClient` built from settings waits here before every send (retries
included), so that all of them together stay within `PREFETCH_ESA_CALLS_PER_SECOND`. The budget is
a sliding-window log in Redis (pyrate-limiter's RedisBucket: a sorted set updated by one Lua
script, atomic across processes and machines), so over *any* window, not only whole seconds, no
more than the budget goes out.

The window is a little longer than a second (`PREFETCH_ESA_BUDGET_MARGIN_MS`): ESA counts calls
when they arrive, and two calls taken from the budget a second apart can arrive less than a second
apart when the first was slower on the network. The margin absorbs that difference.

Waiting for the budget is backoff, never failure; only when Redis cannot be reached for
`_REDIS_PATIENCE` seconds does the call fail, as a transport error that the caller retries later.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from functools import cache

import redis
from pyrate_limiter import Rate, RateItem, RedisBucket

from prefetch_ui.esa import EsaTransportError

__all__ = ["EsaCallBudget", "esa_call_budget"]

logger = logging.getLogger(__name__)

BUDGET_KEY = "prefetch:esa-call-budget"
# How long one call may wait for its turn before the caller is told to try again later.
_MAX_WAIT_SECONDS = 120.0
_REDIS_PATIENCE = 10.0
_REDIS_PAUSE = 0.5


class EsaCallBudget:
    """`acquire()` returns when one more ESA call may be sent. Thread-safe."""

    def __init__(
        self, *, redis_url: str, calls_per_second: int, margin_ms: int, key: str = BUDGET_KEY
    ) -> None:
        if calls_per_second < 1:
            raise ValueError("calls_per_second must be at least 1")
        self.calls_per_second = calls_per_second
        self.window_ms = 1000 + max(0, margin_ms)
        self.key = key
        self._redis_url = redis_url
        self._bucket: RedisBucket | None = None
        # The bucket keeps the last failing rate between put() and waiting(): one thread at a time.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EsaCallBudget({self.calls_per_second} calls per {self.window_ms} ms)"

    def _built(self) -> RedisBucket:
        if self._bucket is None:
            connection = redis.Redis.from_url(self._redis_url, socket_timeout=5, socket_connect_timeout=2)
            self._bucket = RedisBucket.init(
                [Rate(self.calls_per_second, self.window_ms)], connection, self.key
            )
        return self._bucket

    def _try(self) -> int:
        """Take one call from the budget: 0 when taken, else the milliseconds until one may be free.

        Each try is stamped with the clock as it is now. (pyrate-limiter's own blocking Limiter
        re-tries with the first stamp plus its sleeps, which lags the clock, so its window misses
        calls other processes made meanwhile: we measured 12 calls in a second on a budget of 10.)
        """
        with self._lock:
            bucket = self._built()
            item = RateItem(self.key, time.time_ns() // 1_000_000)  # the bucket's own clock, in ms
            if bucket.put(item):
                return 0
            wait = bucket.waiting(item)
            return max(1, wait if isinstance(wait, int) else 1)

    def acquire(self) -> None:
        started = time.monotonic()
        redis_lost_at: float | None = None
        while True:
            try:
                wait_ms = self._try()
            except redis.RedisError as error:
                # Includes NOSCRIPT after a Redis restart: build the bucket (and its script) again.
                with self._lock:
                    self._bucket = None
                redis_lost_at = redis_lost_at or time.monotonic()
                if time.monotonic() - redis_lost_at > _REDIS_PATIENCE:
                    raise EsaTransportError(
                        f"the ESA call budget in Redis is unreachable: {error}"
                    ) from error
                logger.warning("ESA call budget: Redis unavailable (%s); waiting", error)
                time.sleep(_REDIS_PAUSE)
                continue
            if not wait_ms:
                return
            if time.monotonic() - started > _MAX_WAIT_SECONDS:
                raise EsaTransportError(f"no ESA call budget within {_MAX_WAIT_SECONDS:.0f} s ({self})")
            # Waiters spread over a few milliseconds, so that they do not all ask at the same instant.
            time.sleep(wait_ms / 1000 + random.uniform(0, 0.005))  # noqa: S311 - jitter


@cache
def esa_call_budget(redis_url: str, calls_per_second: int, margin_ms: int) -> EsaCallBudget:
    """The process's budget object for these settings (one Redis connection, one Lua script load)."""
    return EsaCallBudget(redis_url=redis_url, calls_per_second=calls_per_second, margin_ms=margin_ms)
