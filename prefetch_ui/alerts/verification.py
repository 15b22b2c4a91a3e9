"""Checking that a delivery comes from the sender: each kind as its sender authenticates.

- Alertmanager, Grafana: `Authorization: Bearer <token>` (Alertmanager's `http_config.authorization`,
  Grafana's "Authorization header" of a webhook contact point); only the token's SHA-256 is kept.
  Grafana with an HMAC secret also: `X-Grafana-Alerting-Signature`, the hex HMAC-SHA256 of the body,
  or of "<timestamp>:<body>" when `X-Grafana-Alerting-Signature-Timestamp` carries a timestamp.
- PagerDuty v3: `X-PagerDuty-Signature`, comma-separated `v1=<hex HMAC-SHA256 of the raw body>`
  (several while PagerDuty rotates its secret).
- Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`, checked by the
  `standardwebhooks` library.

After a rotation the previous token or secret is accepted too, until `previous_until`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

from standardwebhooks import Webhook

from .models import Receiver, ReceiverKind

# How far a signed timestamp may be from now, either way.
TIMESTAMP_WINDOW = timedelta(minutes=5)
GRAFANA_SIGNATURE = "X-Grafana-Alerting-Signature"
GRAFANA_TIMESTAMP = "X-Grafana-Alerting-Signature-Timestamp"
PAGERDUTY_SIGNATURE = "X-PagerDuty-Signature"


class Refused(Exception):
    """A delivery refused: answered with `status` and the JSON `{code, message}`; nothing is held."""

    def __init__(self, *, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _secrets(receiver: Receiver, now: datetime) -> list[str]:
    secrets = [receiver.secret] if receiver.secret else []
    if receiver.previous_secret and receiver.previous_until is not None and now < receiver.previous_until:
        secrets.append(receiver.previous_secret)
    return secrets


def _token_hashes(receiver: Receiver, now: datetime) -> list[str]:
    hashes = [receiver.token_hash] if receiver.token_hash else []
    previous = receiver.previous_token_hash
    if previous and receiver.previous_until is not None and now < receiver.previous_until:
        hashes.append(previous)
    return hashes


def _bearer(receiver: Receiver, headers: Mapping[str, str], now: datetime) -> None:
    header = headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(
            status=401,
            code="token_missing",
            message="Send the receiver's token as `Authorization: Bearer <token>`.",
        )
    digest = token_hash(token.strip())
    if not any(hmac.compare_digest(digest, known) for known in _token_hashes(receiver, now)):
        raise Refused(status=401, code="token_invalid", message="This token is not the receiver's.")


def timestamp_check(value: str, *, now: datetime, header: str) -> None:
    try:
        seconds = float(value)
    except ValueError:
        raise Refused(
            status=400, code="timestamp_invalid", message=f"{header} must be Unix seconds.", field=header
        ) from None
    if abs(now.timestamp() - seconds) > TIMESTAMP_WINDOW.total_seconds():
        raise Refused(
            status=401,
            code="timestamp_outside_window",
            message=f"{header} is more than {int(TIMESTAMP_WINDOW.total_seconds() // 60)} minutes from now.",
            field=header,
        )


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _grafana_hmac(receiver: Receiver, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
    signature = headers.get(GRAFANA_SIGNATURE, "").strip().lower()
    if not signature:
        raise Refused(
            status=401,
            code="signature_missing",
            message=f"{GRAFANA_SIGNATURE} is missing.",
            field=GRAFANA_SIGNATURE,
        )
    timestamp = headers.get(GRAFANA_TIMESTAMP, "").strip()
    message = body
    if timestamp:
        timestamp_check(timestamp, now=now, header=GRAFANA_TIMESTAMP)
        message = timestamp.encode() + b":" + body
    if not any(
        hmac.compare_digest(signature, _hex_hmac(secret, message)) for secret in _secrets(receiver, now)
    ):
        raise Refused(status=401, code="signature_invalid", message="The signature does not match the body.")


def _pagerduty(receiver: Receiver, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
    header = headers.get(PAGERDUTY_SIGNATURE, "")
    signatures = [part.strip() for part in header.split(",") if part.strip().startswith("v1=")]
    if not signatures:
        raise Refused(
            status=401,
            code="signature_missing",
            message=f"{PAGERDUTY_SIGNATURE} with a v1= signature is missing.",
            field=PAGERDUTY_SIGNATURE,
        )
    expected = [f"v1={_hex_hmac(secret, body)}" for secret in _secrets(receiver, now)]
    if not any(hmac.compare_digest(given, known) for given in signatures for known in expected):
        raise Refused(status=401, code="signature_invalid", message="No signature matches the body.")


STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def _standard(receiver: Receiver, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
    given = {name: headers.get(name, "") for name in STANDARD_HEADERS}
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise Refused(
            status=401,
            code="signature_missing",
            message=f"Missing Standard Webhooks header(s): {', '.join(missing)}.",
            field=missing[0],
        )
    # Checked here too, for its own code: the library says only "too old" in its error's text.
    timestamp_check(given["webhook-timestamp"], now=now, header="webhook-timestamp")
    for secret in _secrets(receiver, now):
        try:
            Webhook(secret).verify(body, given, json_parse=False)
        except Exception:  # noqa: S112  # a malformed signature is as wrong as a mismatch: try the next secret
            continue
        return
    raise Refused(status=401, code="signature_invalid", message="No signature matches the body.")


def delivery_verify(*, receiver: Receiver, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
    """Refuse (`Refused`, 401/400) a delivery that is not the sender's; returns when it is."""
    if receiver.kind == ReceiverKind.ALERTMANAGER:
        _bearer(receiver, headers, now)
    elif receiver.kind == ReceiverKind.GRAFANA:
        _bearer(receiver, headers, now)
        if receiver.secret:
            _grafana_hmac(receiver, body, headers, now)
    elif receiver.kind == ReceiverKind.PAGERDUTY:
        _pagerduty(receiver, body, headers, now)
    else:
        _standard(receiver, body, headers, now)


def standard_secret_valid(secret: str) -> bool:
    """Whether `secret` is a Standard Webhooks secret (whsec_ and base64)."""
    try:
        Webhook(secret)
    except Exception:  # the library's errors: empty, or not base64
        return False
    return secret.startswith("whsec_")
