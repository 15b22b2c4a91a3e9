"""ACS3-HMAC-SHA256 request signing (Alibaba Cloud OpenAPI signature V3).

The canonicalisation functions are pure so that the simulator verifies a request with exactly the
rules a client signs it with; `AcsV3Auth` applies them to an outgoing `httpx.Request`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

import httpx

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "AcsV3Auth",
    "canonical_query",
    "canonical_request",
    "percent_encode",
    "sign",
    "string_to_sign",
]

ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: everything but unreserved characters, UTF-8, spaces as %20."""
    return quote(value, safe="~", encoding="utf-8")


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The sorted, re-encoded query string that is signed."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(pairs))


def canonical_request(
    *,
    method: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_sha256: str,
    path: str = "/",
) -> str:
    """The canonical request of signature V3. `headers` must be keyed by lower-case name."""
    names = sorted(name.lower() for name in signed_headers)
    header_block = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in names)
    return "\n".join(
        [method.upper(), path or "/", canonical_query(query), header_block, ";".join(names), payload_sha256]
    )


def string_to_sign(canonical: str) -> str:
    return f"{ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def sign(secret: str, text: str) -> str:
    """Hex HMAC-SHA256 of `text` under the AccessKey secret."""
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


class AcsV3Auth(httpx.Auth):
    """Signs each request with an AccessKey pair; adds the `x-acs-*` headers it needs.

    Holds the secret privately and never shows it: not in `repr()`, not in any header but the
    signature it derives.
    """

    requires_request_body = True

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        now: Callable[[], datetime] | None = None,
        nonce: Callable[[], str] | None = None,
    ) -> None:
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self._now = now or (lambda: datetime.now(UTC))
        self._nonce = nonce or (lambda: secrets.token_hex(16))

    def __repr__(self) -> str:
        return f"AcsV3Auth(access_key_id={self.access_key_id!r}, access_key_secret='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        body = request.content
        headers = request.headers
        headers["x-acs-content-sha256"] = hashlib.sha256(body).hexdigest()
        headers.setdefault("x-acs-date", self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        # A fresh nonce on every attempt: a retried request is a new request to the gateway.
        headers["x-acs-signature-nonce"] = self._nonce()
        signed = sorted(
            name
            for name in (key.lower() for key in headers)
            if name in ("host", "content-type") or name.startswith("x-acs-")
        )
        lowered = {name: headers[name] for name in signed}
        query = parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
        canonical = canonical_request(
            method=request.method,
            path=request.url.path,
            query=query,
            headers=lowered,
            signed_headers=signed,
            payload_sha256=headers["x-acs-content-sha256"],
        )
        signature = sign(self._secret, string_to_sign(canonical))
        credential = f"Credential={self.access_key_id},SignedHeaders={';'.join(signed)}"
        headers["Authorization"] = f"{ALGORITHM} {credential},Signature={signature}"
        yield request
