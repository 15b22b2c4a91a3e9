"""The gateway's signature checks: every way Alibaba Cloud's gateway accepts a signed ESA call.

- Signature V3 (`Authorization: ACS3-HMAC-SHA256 …` or `ACS3-HMAC-SM3 …`), as the official ESA SDK
  and `alibabacloud_tea_openapi` send it: the canonical request of `prefetch_ui.esa.auth`, hashed and
  HMAC'd with SHA-256 or SM3 (the payload hash travels in `x-acs-content-sha256` for both).
- The RPC signature (`SignatureVersion=1.0`, `SignatureMethod=HMAC-SHA1`, which Alibaba's docs call
  "V2" and `alibabacloud_tea_openapi` selects with `signature_algorithm="v2"`), as
  `aliyun-python-sdk-core`'s `CommonRequest` and the `aliyun` CLI send it: the signing parameters in
  the query, the signature a Base64 HMAC-SHA1 under `secret + "&"` of
  `METHOD&%2F&pct(canonical query)`, over every parameter of the query and the form body but
  `Signature`.

Each refusal has one code path, whatever the scheme: `IncompleteSignature` (a signing header or
parameter missing, or a scheme we do not know), `InvalidAccessKeyId.NotFound`,
`InvalidTimeStamp.Format` / `InvalidTimeStamp.Expired` (more than 15 minutes from the simulator's
clock), `SignatureDoesNotMatch`, then `SignatureNonceUsed`: a nonce is spent only by a request that
passed every other check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from prefetch_ui.esa.auth import canonical_query, canonical_request, percent_encode

from .actions import SimError

__all__ = ["MAX_SKEW_SECONDS", "SIGNING_PARAMETERS", "SignatureChecks", "without_signing_parameters"]

MAX_SKEW_SECONDS = 15 * 60
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_ACS3_REQUIRED_HEADERS = (
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
)
_RPC_REQUIRED_PARAMETERS = (
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
)
# The RPC signature's own parameters: checked here, never handed to an action or written to the log.
SIGNING_PARAMETERS = frozenset({*_RPC_REQUIRED_PARAMETERS, "SignatureType", "SecurityToken", "Format"})


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def _hmac_sha256_hex(secret: bytes, text: bytes) -> str:
    return hmac.new(secret, text, hashlib.sha256).hexdigest()


def _hmac_sm3_hex(secret: bytes, text: bytes) -> str:
    mac = crypto_hmac.HMAC(secret, hashes.SM3())
    mac.update(text)
    return mac.finalize().hex()


# Signature V3's algorithms: (hash of the payload and canonical request, HMAC of the string to sign).
_ACS3_ALGORITHMS: Mapping[str, tuple[Callable[[bytes], str], Callable[[bytes, bytes], str]]] = {
    "ACS3-HMAC-SHA256": (_sha256_hex, _hmac_sha256_hex),
    "ACS3-HMAC-SM3": (_sm3_hex, _hmac_sm3_hex),
}


def without_signing_parameters(params: Mapping[str, str]) -> dict[str, str]:
    """The call's own parameters: what an action reads and the call log shows."""
    return {name: value for name, value in params.items() if name not in SIGNING_PARAMETERS}


def _incomplete(detail: str) -> SimError:
    return SimError(
        400,
        "IncompleteSignature",
        f"The request signature does not conform to Aliyun standards: {detail}.",
    )


def _parse_acs3_authorization(value: str) -> tuple[str, str, list[str], str] | None:
    """Split `<algorithm> Credential=..,SignedHeaders=..,Signature=..`; None when malformed."""
    algorithm, _, rest = value.strip().partition(" ")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, field_value = part.strip().partition("=")
        if not sep:
            return None
        fields[key] = field_value
    credential = fields.get("Credential", "")
    signed = [name for name in fields.get("SignedHeaders", "").split(";") if name]
    signature = fields.get("Signature", "")
    if not credential or not signed or not signature:
        return None
    return algorithm, credential, signed, signature


class SignatureChecks:
    """Verifies one request's signature, whichever scheme signed it, and spends its nonce.

    `db` holds the nonces seen (the `nonces` table); `real_time` is the simulator's wall clock, which
    a test may hold in its hand (`ManualClock`) to make a request's timestamp stale.
    """

    def __init__(
        self,
        *,
        access_keys: Mapping[str, str],
        db: sqlite3.Connection,
        real_time: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._access_keys = access_keys
        self._db = db
        self._real_time = real_time
        self._rng = rng

    def verify(
        self,
        *,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        params: Mapping[str, str],
        body: bytes,
    ) -> None:
        """Raise the gateway's `SimError` unless the request is correctly signed with a fresh nonce.

        `headers` are keyed by lower-case name; `params` are the query and form body together.
        """
        if headers.get("authorization"):
            self._verify_acs3(method=method, path=path, query=query, headers=headers, body=body)
        elif any(name in params for name in _RPC_REQUIRED_PARAMETERS):
            self._verify_rpc(method=method, params=params)
        else:
            raise _incomplete("the Authorization header is missing or malformed")

    def _verify_acs3(
        self,
        *,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> None:
        parsed = _parse_acs3_authorization(headers["authorization"])
        if parsed is None or parsed[0] not in _ACS3_ALGORITHMS:
            raise _incomplete("the Authorization header is missing or malformed")
        algorithm, access_key_id, signed, signature = parsed
        hash_hex, hmac_hex = _ACS3_ALGORITHMS[algorithm]
        for name in (*_ACS3_REQUIRED_HEADERS, *(["content-type"] if body else [])):
            if name not in signed or not headers.get(name):
                raise _incomplete(f"header {name} is missing or not signed")
        secret = self._secret_of(access_key_id)
        self._check_time(headers["x-acs-date"])
        payload_hash = hash_hex(body)
        if not hmac.compare_digest(headers["x-acs-content-sha256"].encode("utf-8"), payload_hash.encode()):
            raise SimError(
                400,
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation: x-acs-content-sha256 "
                f"is not the {algorithm.removeprefix('ACS3-HMAC-')} hash of the body.",
            )
        canonical = canonical_request(
            method=method,
            path=path,
            query=query,
            headers=headers,
            signed_headers=signed,
            payload_sha256=payload_hash,
        )
        text = f"{algorithm}\n{hash_hex(canonical.encode('utf-8'))}"
        self._check_signature(hmac_hex(secret.encode("utf-8"), text.encode("utf-8")), signature)
        self._use_nonce(headers["x-acs-signature-nonce"])

    def _verify_rpc(self, *, method: str, params: Mapping[str, str]) -> None:
        for name in _RPC_REQUIRED_PARAMETERS:
            if not params.get(name):
                raise _incomplete(f"parameter {name} is missing")
        if (params["SignatureMethod"], params["SignatureVersion"]) != ("HMAC-SHA1", "1.0"):
            raise _incomplete("SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0")
        secret = self._secret_of(params["AccessKeyId"])
        self._check_time(params["Timestamp"])
        signed = canonical_query((name, value) for name, value in params.items() if name != "Signature")
        text = f"{method.upper()}&{percent_encode('/')}&{percent_encode(signed)}"
        digest = hmac.new(f"{secret}&".encode(), text.encode("utf-8"), hashlib.sha1).digest()
        self._check_signature(
            base64.b64encode(digest).decode("ascii"),
            params["Signature"],
            # The gateway's words for the RPC signature, which aliyun-python-sdk-core reads: it splits
            # the message at ":" and compares what follows with the string it signed.
            message="Specified signature is not matched with our calculation. "
            f"server string to sign is:{text}",
        )
        self._use_nonce(params["SignatureNonce"])

    # -- one code path per check ----------------------------------------------------------

    def _secret_of(self, access_key_id: str) -> str:
        secret = self._access_keys.get(access_key_id)
        if secret is None:
            raise SimError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        return secret

    def _check_time(self, sent: str) -> None:
        try:
            sent_at = datetime.strptime(sent, _TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise SimError(
                400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
            ) from None
        if abs(self._real_time() - sent_at.timestamp()) > MAX_SKEW_SECONDS:
            raise SimError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")

    @staticmethod
    def _check_signature(
        expected: str, given: str, *, message: str = "Specified signature does not match our calculation."
    ) -> None:
        if not hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8")):
            raise SimError(400, "SignatureDoesNotMatch", message)

    def _use_nonce(self, nonce: str) -> None:
        now = self._real_time()
        if self._db.execute("SELECT 1 FROM nonces WHERE nonce = ?", (nonce,)).fetchone():
            raise SimError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._db.execute("INSERT INTO nonces (nonce, seen_at) VALUES (?, ?)", (nonce, now))
        if self._rng.random() < 0.01:
            # A replayed nonce older than the timestamp window fails the timestamp check anyway.
            self._db.execute("DELETE FROM nonces WHERE seen_at < ?", (now - 2 * MAX_SKEW_SECONDS,))
