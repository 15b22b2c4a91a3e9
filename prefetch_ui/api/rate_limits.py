"""Per-token rate limits: at most PREFETCH_API_RATE_LIMIT calls ("120/minute") per token, counted
in Redis so that the limit holds across every web process, then 429 `rate_limited` with
`Retry-After` (the seconds until the window ends).

A fixed window: one counter per token and window (`INCR`, expiring with the window). A client that
spends its calls at the end of one window and the start of the next may make up to twice the limit
in a short while; that is the price of one Redis call a request, and enough to stop a runaway
script. Every call a token makes counts, reads and writes alike, refused ones too (a script looping
on a 409 is throttled as well). Without Redis the limit is not enforced (logged): the API answers
rather than fail with the cache, as the pages' poll answers do.

`PREFETCH_API_RATE_LIMIT = ""` (or "0/minute") turns the limit off.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

from .errors import ApiError
from .models import ApiToken

logger = logging.getLogger(__name__)

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d{1,9})\s*/\s*(second|minute|hour|day)\s*$")
_KEY = "prefetch-ui:api-rate:{token}:{window}"


@dataclass(frozen=True, slots=True)
class Rate:
    calls: int
    period: int  # seconds


def rate_parse(text: str) -> Rate | None:
    """`"120/minute"` as a Rate; None for "" or zero calls (no limit). ValueError for anything else,
    so a mistyped setting stops the server at start (settings check) instead of lifting the limit."""
    if not text.strip():
        return None
    match = _RATE.match(text)
    if match is None:
        raise ValueError(
            f"PREFETCH_API_RATE_LIMIT {text!r} is not like '120/minute' (second, minute, hour, day)"
        )
    calls = int(match.group(1))
    return Rate(calls, _PERIODS[match.group(2)]) if calls else None


@cache
def _redis(url: str) -> redis.Redis:
    # Short timeouts: a Redis that does not answer must not hold up the API.
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def rate_limit_check(*, token: ApiToken, now: float | None = None) -> None:
    """Count one call of `token`; ApiError 429 `rate_limited` when it is over the limit."""
    rate = rate_parse(settings.PREFETCH_API_RATE_LIMIT)
    if rate is None:
        return
    now = time.time() if now is None else now
    window = int(now // rate.period)
    key = _KEY.format(token=token.pk, window=window)
    try:
        pipeline = _redis(settings.REDIS_URL).pipeline()
        # The window's counter expires with it (SET NX EX, then INCR: one round trip, any Redis).
        pipeline.set(key, 0, ex=rate.period + 1, nx=True)
        pipeline.incr(key)
        calls = int(pipeline.execute()[1])
    except redis.RedisError:
        logger.warning("API rate limit not checked: Redis did not answer", exc_info=True)
        return
    if calls > rate.calls:
        retry_after = max(1, int((window + 1) * rate.period - now + 0.999))
        raise ApiError(
            status=429,
            code="rate_limited",
            message=f"This token made more than {rate.calls} calls in {_period_name(rate.period)}: "
            f"try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def _period_name(seconds: int) -> str:
    return {value: f"a {name}" for name, value in _PERIODS.items()}.get(seconds, f"{seconds} s")
