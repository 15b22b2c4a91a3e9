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
import threading
import time
from functools import cache

import redis
from pyrate_limiter import Limiter, Rate, RedisBucket

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
        self._limiter: Limiter | None = None
        self._build_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EsaCallBudget({self.calls_per_second} calls per {self.window_ms} ms)"

    def _built(self) -> Limiter:
        with self._build_lock:
            if self._limiter is None:
                connection = redis.Redis.from_url(self._redis_url, socket_timeout=5, socket_connect_timeout=2)
                bucket = RedisBucket.init([Rate(self.calls_per_second, self.window_ms)], connection, self.key)
                # The library sleeps buffer_ms past the computed wait; a few ms keep the pipe full.
                self._limiter = Limiter(bucket, buffer_ms=3)
            return self._limiter

    def acquire(self) -> None:
        started = time.monotonic()
        redis_lost_at: float | None = None
        while True:
            try:
                limiter = self._built()
                remaining = max(0.0, _MAX_WAIT_SECONDS - (time.monotonic() - started))
                if limiter.try_acquire(self.key, blocking=True, timeout=remaining):
                    return
                raise EsaTransportError(f"no ESA call budget within {_MAX_WAIT_SECONDS:.0f} s ({self})")
            except redis.RedisError as error:
                # Includes NOSCRIPT after a Redis restart: build the bucket (and its script) again.
                with self._build_lock:
                    self._limiter = None
                redis_lost_at = redis_lost_at or time.monotonic()
                if time.monotonic() - redis_lost_at > _REDIS_PATIENCE:
                    raise EsaTransportError(
                        f"the ESA call budget in Redis is unreachable: {error}"
                    ) from error
                logger.warning("ESA call budget: Redis unavailable (%s); waiting", error)
                time.sleep(_REDIS_PAUSE)


@cache
def esa_call_budget(redis_url: str, calls_per_second: int, margin_ms: int) -> EsaCallBudget:
    """The process's budget object for these settings (one Redis connection, one Lua script load)."""
    return EsaCallBudget(redis_url=redis_url, calls_per_second=calls_per_second, margin_ms=margin_ms)
