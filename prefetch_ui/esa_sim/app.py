"""The simulator's WSGI application: ESA's RPC gateway in front of `actions.Backend`.

In order, like the real gateway: the signature checks of `signatures.py` (ACS3-HMAC-SHA256,
ACS3-HMAC-SM3 or the RPC HMAC-SHA1 signature: shape, AccessKey, timestamp, body hash, signature,
nonce), then flow control (`max_qps`), then injected faults (`fault_rate`: 503 before
anything is processed), then the action in one SQLite transaction, which an error rolls back. With
`ambiguous_fault_rate`, a processed request answers 500 anyway, as a real service sometimes does:
the change landed but the caller cannot know it.

Besides `/`, it serves `GET /_sim/calls` (the log of calls received, for tests and debugging; it
never shows a secret) and `GET /_sim/health`.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .actions import ACTIONS, Backend, Limits, Quotas, SimError
from .signatures import SignatureChecks, without_signing_parameters
from .store import Store, SubmittedBatch, read_batches

__all__ = ["DEMO_ACCESS_KEY_ID", "DEMO_ACCESS_KEY_SECRET", "EsaSimulator", "SimConfig"]

logger = logging.getLogger(__name__)

DEMO_ACCESS_KEY_ID = "LTAI5tSimulatorDemoKey"
DEMO_ACCESS_KEY_SECRET = "SimulatorDemoSecret-not-for-production"  # noqa: S105 - a documented demo value
API_VERSION = "2024-09-10"
_LOGGED_VALUE_CHARS = 500

StartResponse = Callable[[str, list[tuple[str, str]]], object]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How the simulator behaves; every field is a command-line option of the server."""

    state_path: str | Path
    access_keys: Mapping[str, str] = field(
        default_factory=lambda: {DEMO_ACCESS_KEY_ID: DEMO_ACCESS_KEY_SECRET}
    )
    speed: float = 1.0
    max_qps: int = 0  # 0: no flow control
    fault_rate: float = 0.0
    ambiguous_fault_rate: float = 0.0
    # The actions the ambiguous faults hit; empty: every action.
    ambiguous_fault_actions: frozenset[str] = frozenset()
    latency_ms: int = 0
    limits: Limits = field(default_factory=Limits)
    # The prefetch quota (URLs a day per site, renewed at midnight in its time zone) and the purge
    # quotas: ESA publishes none of the numbers (docs/simulator.md#quotas).
    quotas: Quotas = field(default_factory=Quotas)
    seed: int | None = None
    # Sites the key may list but not act on, as a RAM policy limited to some sites does: every call
    # naming one (its SiteId, or a job or plan of it) is refused with InvalidUid.PermissionDenied.
    denied_sites: frozenset[int] = frozenset()
    # Site statuses set at start-up (ESA's `pending`, `offline`...): plans run only on `active` sites.
    site_statuses: Mapping[int, str] = field(default_factory=dict)
    host_id: str = "esa.cn-hangzhou.aliyuncs.com"

    def __repr__(self) -> str:
        # The key pairs stay out of logs and tracebacks.
        return (
            f"SimConfig(state_path={str(self.state_path)!r}, speed={self.speed}, max_qps={self.max_qps}, "
            f"fault_rate={self.fault_rate}, ambiguous_fault_rate={self.ambiguous_fault_rate}, "
            f"latency_ms={self.latency_ms}, limits={self.limits}, quotas={self.quotas})"
        )


def _status_line(status: int) -> str:
    reasons = {
        200: "OK",
        400: "Bad Request",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }
    return f"{status} {reasons.get(status, 'Error')}"


class EsaSimulator:
    """A WSGI application that answers like ESA's OpenAPI gateway."""

    def __init__(self, config: SimConfig, *, real_time: Callable[[], float] = time.time) -> None:
        self.config = config
        self._real_time = real_time
        self.store = Store(config.state_path, speed=config.speed, real_time=real_time)
        self.backend = Backend(self.store, config.limits, config.quotas)
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)  # noqa: S311 - fault injection, not a secret
        self._recent: collections.deque[float] = collections.deque()
        self._signatures = SignatureChecks(
            access_keys=config.access_keys, db=self.store.db, real_time=real_time, rng=self._rng
        )
        for site_id, status in config.site_statuses.items():
            self.set_site_status(site_id, status)

    def set_site_status(self, site_id: int, status: str) -> None:
        """Change a site's status, as ESA's console would (activating it, pausing it)."""
        self._in_transaction(lambda: self.backend.set_site_status(site_id, status))

    def set_site_paused(self, site_id: int, paused: bool) -> None:
        """Pause a site or resume it, as UpdateSitePause does."""
        self._in_transaction(lambda: self.backend.set_site_paused(site_id, paused))

    def preload_used(self, site_id: int, moment: float | None = None) -> int:
        """The site's prefetch quota used on the quota day holding `moment` (simulated; default now),
        as far as batches have been computed (a due batch is computed on the next read of its job)."""
        with self._lock:
            return self.backend.preload_used(site_id, self.store.clock.now() if moment is None else moment)

    def add_site(self, site_name: str, *, status: str = "active", access_type: str = "NS") -> int:
        """Add a site (as ESA's console does; the API has no action for it here); returns its SiteId."""
        return self._in_transaction(
            lambda: self.backend.add_site(site_name, status=status, access_type=access_type)
        )

    def _in_transaction[T](self, change: Callable[[], T]) -> T:
        with self._lock:
            db = self.store.db
            db.execute("BEGIN IMMEDIATE")
            try:
                result = change()
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

    def close(self) -> None:
        self.store.close()

    # -- WSGI -----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path.startswith("/_sim/"):
            return self._debug(path, environ, start_response)
        if self.config.latency_ms:
            time.sleep(self.config.latency_ms / 1000)
        request_id = str(uuid.uuid4()).upper()
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = _headers(environ)
        action = headers.get("x-acs-action", "")
        status, answer, extra_headers = 200, {}, []
        params: dict[str, str] = {}
        with self._lock:
            try:
                params = self._params(environ, body)
                action = action or params.get("Action", "")
                self._signatures.verify(
                    method=environ.get("REQUEST_METHOD", "GET"),
                    path=path,
                    query=parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True),
                    headers=headers,
                    params=params,
                    body=body,
                )
                _check_body_type(environ, body)
                self._throttle()
                if self.config.fault_rate and self._rng.random() < self.config.fault_rate:
                    raise SimError(
                        503,
                        "ServiceUnavailable",
                        "The request has failed due to a temporary failure of the server.",
                    )
                if path != "/":
                    raise SimError(404, "InvalidAction.NotFound", f"Specified path {path} is not found.")
                # The RPC signature names the version as a parameter; signature V3 in a header.
                version = headers.get("x-acs-version") or params.get("Version", "")
                answer = self._dispatch(action, version, without_signing_parameters(params))
                if self._ambiguous_fault(action):
                    raise SimError(
                        500, "InternalError", "The request processing has failed due to some unknown error."
                    )
            except SimError as error:
                status = error.status
                answer = {
                    "HostId": self.config.host_id,
                    "Code": error.code,
                    "Message": error.message,
                    "Recommend": f"https://api.aliyun.com/troubleshoot?q={error.code}",
                }
                if error.retry_after_ms is not None:
                    extra_headers.append(("x-acs-retry-after", str(error.retry_after_ms)))
            self._record(action, params, status, str(answer.get("Code", "")), request_id)
        payload = json.dumps({"RequestId": request_id, **answer}, ensure_ascii=False).encode("utf-8")
        start_response(
            _status_line(status),
            [
                ("Content-Type", "application/json;charset=utf-8"),
                ("Content-Length", str(len(payload))),
                ("x-acs-request-id", request_id),
                *extra_headers,
            ],
        )
        return [payload]

    def _ambiguous_fault(self, action: str) -> bool:
        actions = self.config.ambiguous_fault_actions
        if not self.config.ambiguous_fault_rate or (actions and action not in actions):
            return False
        return self._rng.random() < self.config.ambiguous_fault_rate

    def _params(self, environ: Mapping[str, Any], body: bytes) -> dict[str, str]:
        try:
            params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
            if body and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
                params |= dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except (UnicodeDecodeError, ValueError):
            raise SimError(
                400, "InvalidParameter", "The request parameters are not valid UTF-8 form data."
            ) from None
        return params

    def _dispatch(self, action: str, version: str, params: Mapping[str, str]) -> dict[str, Any]:
        if version != API_VERSION:
            raise SimError(400, "InvalidVersion", f"Specified parameter Version is not valid: {version!r}.")
        handler = ACTIONS.get(action)
        if handler is None:
            raise SimError(
                404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."
            )
        if self.config.denied_sites and self._site_of(params) in self.config.denied_sites:
            raise SimError(
                403, "InvalidUid.PermissionDenied", "You are not authorized to operate on the specified site."
            )
        db = self.store.db
        db.execute("BEGIN IMMEDIATE")
        try:
            answer = handler(self.backend, params)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return answer

    def _site_of(self, params: Mapping[str, str]) -> int | None:
        """The site a call is about: its SiteId, or the site of the job or plan its Id names."""
        if params.get("SiteId", "").isdigit():
            return int(params["SiteId"])
        row = self.store.db.execute(
            "SELECT site_id FROM jobs WHERE id = :id UNION ALL "
            "SELECT jobs.site_id FROM plans JOIN jobs ON jobs.id = plans.job_id WHERE plans.id = :id",
            {"id": params.get("Id", "")},
        ).fetchone()
        return None if row is None else int(row[0])

    def _throttle(self) -> None:
        if self.config.max_qps <= 0:
            return
        now = self._real_time()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.config.max_qps:
            wait_ms = max(1, math.ceil((self._recent[0] + 1.0 - now) * 1000))
            raise SimError(
                400, "TooManyRequests", "Too many requests.Please try again later.", retry_after_ms=wait_ms
            )
        self._recent.append(now)

    # -- the call log ---------------------------------------------------------------------

    def _record(
        self, action: str, params: Mapping[str, str], status: int, code: str, request_id: str
    ) -> None:
        own = without_signing_parameters(params)
        shown = {key: value[:_LOGGED_VALUE_CHARS] for key, value in own.items()}
        self.store.db.execute(
            "INSERT INTO calls (at, action, params, status, code, request_id) VALUES (?, ?, ?, ?, ?, ?)",
            (self._real_time(), action, json.dumps(shown, ensure_ascii=False), status, code, request_id),
        )

    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        """The calls received so far, oldest first; optionally of one action."""
        with self._lock:
            rows = self.store.db.execute(
                "SELECT * FROM calls WHERE ? IS NULL OR action = ? ORDER BY id", (action, action)
            ).fetchall()
        return [
            {
                "at": row["at"],
                "action": row["action"],
                "params": json.loads(row["params"]),
                "status": row["status"],
                "code": row["code"],
                "request_id": row["request_id"],
            }
            for row in rows
        ]

    def submitted_batches(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[SubmittedBatch]:
        """The batches plans have fired with `since <= at < until` (simulated time), oldest first.

        `advance` is lazy: a batch that was due is recorded, with its scheduled time, on the next read
        of its job (listing its plans, or any call about it). Read the jobs first to count up to now.
        """
        with self._lock:
            return read_batches(self.store.db, since=since, until=until)

    def _debug(self, path: str, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if path == "/_sim/calls":
            query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
            body: Any = {"Calls": self.calls(query.get("action"))}
        elif path == "/_sim/health":
            body = {
                "status": "ok",
                "sim_time": datetime.fromtimestamp(self.store.clock.now(), UTC).isoformat(),
            }
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "not found"}']
        payload = json.dumps(body).encode("utf-8")
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]


# ESA's RPC gateway reads parameters from the query string and a form body only (the SDK, every
# client we know of); it publishes no code for a body it cannot read. Ours: docs/esa-api.md#wire.
_FORM_TYPE = "application/x-www-form-urlencoded"
UNREADABLE_BODY_CODE = "InvalidParameter.ContentType"


def _check_body_type(environ: Mapping[str, Any], body: bytes) -> None:
    """Refuse a body whose parameters ESA would not read (JSON, say), rather than ignore it silently:
    a client that sent its parameters there would otherwise see them dropped without a word."""
    if not body:
        return
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if content_type.split(";", 1)[0].strip().lower() != _FORM_TYPE:
        shown = content_type.split(";", 1)[0].strip() or "none"
        raise SimError(
            400,
            UNREADABLE_BODY_CODE,
            f"The request body's content type ({shown}) is not supported: send the parameters in the "
            f"query string or as an {_FORM_TYPE} body.",
        )


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """Request headers keyed by lower-case name, as signed."""
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = str(environ["CONTENT_LENGTH"])
    return headers
