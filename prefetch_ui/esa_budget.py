"""One budget of ESA calls per second, shared by every worker process through Redis, incidents first.

ESA limits calls per account; a hold fans out over many workers at once, and the sync keeps
calling meanwhile. Each `EsaClient` built from settings waits here before every send (retries
included), so that all of them together stay within `PREFETCH_ESA_CALLS_PER_SECOND`. One Lua
script decides every grant, atomically across processes and machines, on Redis's own clock (one
clock for every machine):

- a sliding-window log (a sorted set of the calls granted): over *any* window of one second plus
  the margin, not only whole seconds, no more than the budget goes out;
- a pace: one call every window / budget, never a burst. A log alone lets the whole budget go at
  the start of a window, and again at the start of the next: then a single call of the first burst
  that arrives late lands in the same second as the whole next burst, and ESA refuses one. Paced,
  a second holds fewer calls than the budget by the margin's share, and a few late calls fit in.
  (Tries that come a little late keep the pace, so the budget is spent in full.)
- two classes of callers. An `"incident"` caller (the steps of a hold or a resume) that finds no
  slot registers in a third key while it waits; while anyone is registered there, no `"routine"`
  caller (the sync, operations) takes a slot, so a hold gets the whole budget rather than sharing
  it (measured before this: the sync took 41-47 % of it during a hold). When no incident caller
  waits, routine callers use the whole budget: nothing is reserved. A registration expires after
  `_WAITER_TTL_MS` unless the waiter's next try renews it, so an incident caller that dies while
  waiting holds routine callers back for at most that long.

(This replaced pyrate-limiter's RedisBucket, whose script knows neither a pace nor waiters.)

The margin. ESA counts calls as they *arrive*, in a sliding second; the budget counts them as it
*grants* them. A call granted at g arrives at g + d, where d (Redis's answer, signing, the process
being scheduled again, the network, ESA's front end) varies from call to call. The calls ESA counts
in a second (a - 1 s, a] were granted within (a - 1 s - d_max, a - d_min]: one second plus the
spread d_max - d_min. When that spread is within `PREFETCH_ESA_BUDGET_MARGIN_MS`, this span is
within the budget's window, which never holds more than the budget, so ESA never counts more than
the budget in any second, in whatever order calls arrive: even when a stall holds back every call
for a while and lets them go at once. Single late calls, the common case, are cheaper still: the
pace leaves budget x margin / (1000 + margin) calls of each second free for them (4 at 50 a
second and 100 ms). The margin costs throughput: the budget runs at 1000 / (1000 + margin) of its
rate. Measured against the simulator (16 threads at 50 a second, the 2-core machine at a load of 8),
the spread's 99th percentile was 70-150 ms, with single calls up to 380 ms; 30 and 50 ms saw a
TooManyRequests in every 60-250 calls, 100 ms none (nor did 30 ms on a quiet machine). With the
product as `make run` starts it on the quiet machine, 50 ms saw none in 6,000 calls of holds at 50
and 200 a second. Hence 50 ms by default: 5 % of the rate (a hold of 1,000 plans at 50 a second
measured 1.08x its limit at 50 ms, 1.14x at 100 ms, against a goal of 1.15x); on a host that is
often that busy, 100 ms keeps throttling rare there too, for 9 % of the rate. A spread beyond it
makes ESA answer TooManyRequests: the client sends that call again after ESA's retry-after (through the budget
again), and a caller that still meets it backs off (see `prefetch_ui.prefetch.tasks`).

Waiting for the budget is backoff, never failure; only when Redis cannot be reached for
`_REDIS_PATIENCE` seconds, or no slot came within `_MAX_WAIT_SECONDS`, does the call fail, as a
transport error that the caller retries later.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from functools import cache
from typing import Final, Literal, get_args

import redis
from redis.commands.core import Script

from prefetch_ui.esa import EsaTransportError

__all__ = ["PRIORITIES", "EsaBudgetWaitError", "EsaCallBudget", "Priority", "esa_call_budget"]

logger = logging.getLogger(__name__)

# Who is calling: a hold's or a resume's drainers, or everything else (the sync, operations).
Priority = Literal["incident", "routine"]
PRIORITIES: Final[tuple[Priority, ...]] = get_args(Priority)

BUDGET_KEY = "prefetch:esa-call-budget"
# How long one call may wait for its turn before the caller is told to try again later.
_MAX_WAIT_SECONDS = 120.0
_REDIS_PATIENCE = 10.0
_REDIS_PAUSE = 0.5
# A waiting incident caller's registration lasts this long unless renewed; a live waiter renews it
# at every try, and tries at least every `_INCIDENT_RECHECK_MS`, well within it.
_WAITER_TTL_MS = 1000
_INCIDENT_RECHECK_MS = 200

# KEYS[1]: the calls granted within the window (token -> the microsecond it was granted at).
# KEYS[2]: when the next call may go by the pace (microseconds).
# KEYS[3]: the incident callers waiting (token -> the microsecond their registration expires).
# ARGV: calls per window, the window and the pace (microseconds), this try's token, its priority,
# the waiters' TTL (microseconds), and the time now in microseconds ('' for Redis's own). Times are
# Redis's clock: one for every machine (writing after TIME needs Redis 5 or later, which replicates
# scripts by their effects).
# Returns {granted at, 0} when the call may go, else {0, microseconds to wait before asking again}.
_ACQUIRE_LUA = """
local now
if ARGV[7] ~= '' then
  now = tonumber(ARGV[7])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local limit, window, spacing = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local token, incident, ttl = ARGV[4], ARGV[5] == 'incident', tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local due = tonumber(redis.call('GET', KEYS[2]) or '0')
local wait = math.max(0, due - now)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + window - now, 1)
end
if wait == 0 then
  if incident then
    redis.call('ZREM', KEYS[3], token)
  elseif redis.call('ZCARD', KEYS[3]) > 0 then
    -- An incident caller waits: it takes this slot on its next try; ask again a slot later.
    return {0, math.ceil(spacing)}
  end
  -- A try a little late (sleeps overshoot) keeps the pace, so the budget is spent in full; a later
  -- one starts it again from now, never making up for a quiet moment with a burst.
  local next_due = now + spacing
  if now - due <= spacing then
    next_due = due + spacing
  end
  redis.call('SET', KEYS[2], string.format('%.0f', next_due), 'PX', math.ceil((next_due - now) / 1000) + 1000)
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), token)
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {now, 0}
end
if incident then
  redis.call('ZADD', KEYS[3], string.format('%.0f', now + ttl), token)
  redis.call('PEXPIRE', KEYS[3], math.ceil(ttl / 1000))
end
return {0, math.ceil(wait)}
"""


class EsaBudgetWaitError(EsaTransportError):
    """No slot of the ESA call budget came within `_MAX_WAIT_SECONDS`: backoff, as a throttled call
    is (a routine caller meets it when a long hold keeps the budget)."""


class EsaCallBudget:
    """`acquire()` returns when one more ESA call may be sent. Thread-safe."""

    def __init__(
        self,
        *,
        redis_url: str,
        calls_per_second: int,
        margin_ms: int,
        key: str = BUDGET_KEY,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock` (epoch seconds) replaces Redis's clock in the decisions, for tests that move time
        by hand; every caller of one budget must then share it. The keys still expire on Redis's."""
        if calls_per_second < 1:
            raise ValueError("calls_per_second must be at least 1")
        self.calls_per_second = calls_per_second
        self.window_ms = 1000 + max(0, margin_ms)
        self.key = key
        self._clock = clock
        # The pace: one call every window / calls_per_second, in microseconds.
        self.spacing_us = self.window_ms * 1000 / calls_per_second
        # One hash slot for all three keys (a script may only touch keys of one slot on a cluster).
        self.sent_key = f"{{{key}}}:sent"
        self.due_key = f"{{{key}}}:next-call-due"
        self.waiters_key = f"{{{key}}}:incident-waiters"
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self._jitter = min(0.005, self.spacing_us / 4_000_000)
        # redis-py loads the script again by itself after NOSCRIPT (a restarted Redis).
        self._script: Script = self._redis.register_script(_ACQUIRE_LUA)

    def __repr__(self) -> str:
        return f"EsaCallBudget({self.calls_per_second} calls per {self.window_ms} ms)"

    def try_acquire(self, *, token: str, priority: Priority = "routine") -> tuple[float, float]:
        """One try: (the Redis time the call was granted at, 0), or (0, seconds to wait first).

        An incident caller's failed try registers it as waiting under `token`, for `_WAITER_TTL_MS`.
        """
        granted_us, wait_us = self._script(
            keys=[self.sent_key, self.due_key, self.waiters_key],
            args=[
                self.calls_per_second,
                self.window_ms * 1000,
                self.spacing_us,
                token,
                priority,
                _WAITER_TTL_MS * 1000,
                "" if self._clock is None else round(self._clock() * 1_000_000),
            ],
        )
        return int(granted_us) / 1_000_000, int(wait_us) / 1_000_000

    def acquire(self, *, priority: Priority = "routine") -> float:
        """Wait until one more call may go; return the Redis time (epoch seconds) it was granted at."""
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
        token = uuid.uuid4().hex
        started = time.monotonic()
        redis_lost_at: float | None = None
        granted = False
        try:
            while True:
                try:
                    granted_at, wait = self.try_acquire(token=token, priority=priority)
                except redis.RedisError as error:
                    redis_lost_at = redis_lost_at or time.monotonic()
                    if time.monotonic() - redis_lost_at > _REDIS_PATIENCE:
                        raise EsaTransportError(
                            f"the ESA call budget in Redis is unreachable: {error}"
                        ) from error
                    logger.warning("ESA call budget: Redis unavailable (%s); waiting", error)
                    time.sleep(_REDIS_PAUSE)
                    continue
                redis_lost_at = None
                if not wait:
                    granted = True
                    return granted_at
                if time.monotonic() - started > _MAX_WAIT_SECONDS:
                    raise EsaBudgetWaitError(f"no ESA call budget within {_MAX_WAIT_SECONDS:.0f} s ({self})")
                if priority == "incident":
                    # Renew the registration well before it expires.
                    wait = min(wait, _INCIDENT_RECHECK_MS / 1000)
                # Waiters spread over a few milliseconds (less than the pace keeps up with), so that
                # they do not all ask at the same instant.
                time.sleep(wait + random.uniform(0, self._jitter))  # noqa: S311 - jitter
        finally:
            if priority == "incident" and not granted:
                self._unregister(token)

    def _unregister(self, token: str) -> None:
        """A waiter giving up (an error, an interrupt) lets routine callers go at once; best effort,
        since its registration expires anyway."""
        with contextlib.suppress(redis.RedisError):
            self._redis.zrem(self.waiters_key, token)


@cache
def esa_call_budget(redis_url: str, calls_per_second: int, margin_ms: int) -> EsaCallBudget:
    """The process's budget object for these settings (one Redis connection pool, one script)."""
    return EsaCallBudget(redis_url=redis_url, calls_per_second=calls_per_second, margin_ms=margin_ms)
