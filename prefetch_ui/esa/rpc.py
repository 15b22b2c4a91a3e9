"""The generic call of ESA's OpenAPI (RPC style), which every typed action of `EsaClient` makes.

It speaks the wire protocol exactly as Alibaba Cloud's own SDK does (GET with every parameter in
the query for reads; POST with `Id` in the query and the rest as a form body for writes; arrays as
one compact-JSON field) and signs with ACS3-HMAC-SHA256.

Retries: throttling, 5xx answers and connection failures are retried with exponential backoff and
jitter, bounded in attempts and in total time, honouring `x-acs-retry-after`. A *create* is resent
only when the failed attempt surely did not land (the connection was refused or never opened, ESA
throttled it, or answered 503 before processing); any other failure of a create raises
`EsaAmbiguousResultError` so the caller looks before it tries again.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

import httpx

from .auth import AcsV3Auth, percent_encode
from .errors import (
    EsaAmbiguousResultError,
    EsaApiError,
    EsaError,
    EsaResponseError,
    EsaServerError,
    EsaThrottledError,
    EsaTransportError,
    api_error_from_response,
)

__all__ = ["API_VERSION", "CallObserver", "Params", "RetryPolicy", "RpcClient"]

logger = logging.getLogger(__name__)

API_VERSION: Final = "2024-09-10"
_CREATE_ACTIONS: Final = frozenset({"CreateScheduledPreloadJob", "CreateScheduledPreloadExecutions"})
_READ_PREFIXES: Final = ("Get", "List", "Describe")
# ESA's answer to a request it refused before doing anything: safe to send again, even a create.
_NOT_PROCESSED_STATUS: Final = 503

Params = Mapping[str, object]
# Told of every request sent, retries included: (action, answer code, seconds on the wire). The code
# is ESA's error Code, "OK" for a success, "HTTP<status>" for an answer that is not ESA's JSON, and
# "ConnectionFailed" / "NoAnswer" when the request never left or its answer was lost.
CallObserver = Callable[[str, str, float], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the client tries: at most `max_attempts` sends within `total_timeout` seconds."""

    max_attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0
    total_timeout: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with equal jitter for the wait after failed attempt `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True, slots=True)
class _Failure:
    error: EsaError
    retryable: bool
    landed_surely_not: bool
    retry_after: float | None = None


class RpcClient:
    """Sends ESA's RPC actions and reads their answers, retrying as the module says. Thread-safe for
    concurrent calls; close it (or use `with`) when done."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        user_agent: str = "prefetch-ui",
        rate_gate: Callable[[], None] | None = None,
        on_call: CallObserver | None = None,
    ) -> None:
        if "://" not in endpoint:
            endpoint = f"https://{endpoint}"
        self.endpoint = endpoint.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        # What the retry budget (`RetryPolicy.total_timeout`) is counted on; a test passes a clock that
        # its `sleep` moves, so the count of retries never depends on how busy the machine is.
        self._clock = clock
        # Called before every send, retries included: blocks until a call may go out (a budget shared
        # with other processes); raises EsaTransportError when it cannot tell.
        self._rate_gate = rate_gate
        # Metrics (see CallObserver); it must never fail or slow a call, and is guarded here in case.
        self._on_call = on_call
        self._observer_failed = False
        self._rng = random.Random()  # noqa: S311 - jitter, not a secret
        self._http = httpx.Client(
            base_url=self.endpoint,
            auth=AcsV3Auth(access_key_id, access_key_secret),
            timeout=timeout,
            transport=transport,
            headers={"accept": "application/json", "user-agent": user_agent, "x-acs-version": API_VERSION},
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the generic call -------------------------------------------------------------------

    def call(self, action: str, params: Params | None = None, *, method: str | None = None) -> dict[str, Any]:
        """Send any RPC action and return ESA's JSON answer; raise an `EsaError` on failure."""
        params = {key: value for key, value in (params or {}).items() if value is not None}
        method = (method or ("GET" if action.startswith(_READ_PREFIXES) else "POST")).upper()
        is_create = action in _CREATE_ACTIONS
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            if self._rate_gate is not None:
                self._rate_gate()
            sent = time.monotonic()
            failure = self._attempt(action, method, params)
            self._observe(action, failure, time.monotonic() - sent)
            if isinstance(failure, dict):
                return failure
            if is_create and not failure.landed_surely_not:
                raise EsaAmbiguousResultError(
                    f"{action} failed in a way that may have created it anyway ({failure.error}); "
                    "list before trying again",
                    action=action,
                ) from failure.error
            if not failure.retryable or attempt >= self.retry.max_attempts:
                raise failure.error
            delay = self.retry.backoff(attempt, self._rng)
            if failure.retry_after is not None:
                delay = min(max(failure.retry_after, delay), self.retry.max_delay)
            if self._clock() - started + delay > self.retry.total_timeout:
                raise failure.error
            logger.info(
                "ESA %s attempt %d failed (%s); retrying in %.2fs", action, attempt, failure.error, delay
            )
            self._sleep(delay)

    def _observe(self, action: str, outcome: dict[str, Any] | _Failure, seconds: float) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(action, _answer_code(outcome), seconds)
        except Exception:
            # A call that ESA answered must not fail for its metrics (a create would look ambiguous).
            if not self._observer_failed:
                self._observer_failed = True
                logger.exception("the ESA call observer failed; its later failures are not logged")

    def _attempt(self, action: str, method: str, params: Params) -> dict[str, Any] | _Failure:
        encoded = {key: _encode_value(value) for key, value in params.items()}
        if method == "GET":
            query, body = encoded, {}
        else:
            query = {key: value for key, value in encoded.items() if key == "Id"}
            body = {key: value for key, value in encoded.items() if key != "Id"}
        headers = {"x-acs-action": action}
        content = b""
        if body:
            content = _form(body).encode("ascii")
            headers["content-type"] = "application/x-www-form-urlencoded"
        url = "/" + (f"?{_form(query)}" if query else "")
        try:
            response = self._http.request(method, url, content=content or None, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never left: nothing can have landed.
            return _Failure(
                EsaTransportError(f"{action}: cannot connect to {self.endpoint}: {exc}", action=action),
                retryable=True,
                landed_surely_not=True,
            )
        except httpx.TransportError as exc:
            # Sent, but the answer was lost (timeout, reset): ESA may have acted on it.
            return _Failure(
                EsaTransportError(f"{action}: no answer from {self.endpoint}: {exc!r}", action=action),
                retryable=True,
                landed_surely_not=False,
            )
        return self._read_response(action, response)

    def _read_response(self, action: str, response: httpx.Response) -> dict[str, Any] | _Failure:
        try:
            payload = _without_nul(response.json())
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            error = EsaResponseError(
                f"{action}: HTTP {response.status_code} with a body that is not ESA's JSON",
                action=action,
                status=response.status_code,
            )
            return _Failure(
                error,
                retryable=response.status_code >= 500,
                landed_surely_not=response.status_code == _NOT_PROCESSED_STATUS,
            )
        if response.status_code < 400:
            logger.debug("ESA %s ok, RequestId %s", action, payload.get("RequestId", ""))
            return payload
        retry_after = _retry_after_seconds(response.headers.get("x-acs-retry-after"))
        api_error = api_error_from_response(
            status=response.status_code,
            code=str(payload.get("Code") or payload.get("code") or f"HTTP{response.status_code}"),
            message=str(payload.get("Message") or payload.get("message") or ""),
            request_id=str(payload.get("RequestId") or payload.get("requestId") or ""),
            recommend=str(payload.get("Recommend") or ""),
            action=action,
            retry_after=retry_after,
        )
        logger.info("ESA %s failed: %s", action, api_error)
        if isinstance(api_error, EsaThrottledError):
            return _Failure(api_error, retryable=True, landed_surely_not=True, retry_after=retry_after)
        if isinstance(api_error, EsaServerError):
            return _Failure(
                api_error,
                retryable=True,
                landed_surely_not=response.status_code == _NOT_PROCESSED_STATUS,
            )
        return _Failure(api_error, retryable=False, landed_surely_not=True)


def _answer_code(outcome: dict[str, Any] | _Failure) -> str:
    """What one request got back, as the CallObserver is told."""
    if isinstance(outcome, dict):
        return "OK"
    error = outcome.error
    if isinstance(error, EsaApiError):
        return error.code
    if isinstance(error, EsaResponseError):
        return f"HTTP{error.status}"
    return "ConnectionFailed" if outcome.landed_surely_not else "NoAnswer"


def _without_nul(value: Any) -> Any:
    """ESA's answer with every NUL (U+0000) in its text replaced by U+FFFD.

    No text of ESA's means a NUL, and whatever keeps the text refuses it (PostgreSQL does, in text
    and in JSON); the replacement character shows where one was, in a name, an error, an id.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _encode_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _form(pairs: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(key)}={percent_encode(value)}" for key, value in sorted(pairs.items()))


def _retry_after_seconds(header: str | None) -> float | None:
    """`x-acs-retry-after` is in milliseconds; only a positive whole number counts (as in the SDK)."""
    try:
        milliseconds = int(header or "")
    except ValueError:
        return None
    return milliseconds / 1000 if milliseconds > 0 else None
