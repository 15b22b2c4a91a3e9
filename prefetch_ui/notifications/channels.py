"""How each kind of channel is sent to, and what counts as delivered in the receiver's own terms.

- Standard Webhooks 1.0: the envelope as JSON, signed with `standardwebhooks` (`webhook-id`,
  `webhook-timestamp`, `webhook-signature`; during a rotation's grace, one signature per secret,
  space-separated). Delivered: any 2xx.
- Slack incoming webhook: `{"text": ...}`. Delivered: 200 with the body `ok`.
- DingTalk group robot: `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(secret,
  "timestamp\\nsecret"))) in the query. Delivered: `errcode` 0 (a 200 may carry a refusal).
- Lark/Feishu group robot: `timestamp` (s) and `sign` = base64(HMAC-SHA256(key="timestamp\\nsecret",
  msg="")) in the body. Delivered: `code` 0 (older robots: `StatusCode` 0).
- E-mail: Django's mail (MAILERS / SMTP). Delivered: the server took it.

No I/O beyond the one request; nothing here touches the database. Errors are described without the
URL or secret: a robot's URL is a credential.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from standardwebhooks.webhooks import Webhook

from .messages import message_subject, message_text
from .models import Channel, ChannelKind

# Answers that no retry will change: a bad signature (DingTalk 310000 also covers a missing
# keyword or an address not allowed; Lark 19021 is "sign match fail"), or Slack's "this webhook
# is gone". Reported as failed at once instead of retried.
DINGTALK_PERMANENT = frozenset({310000})
LARK_PERMANENT = frozenset({19021})
SLACK_PERMANENT_STATUSES = frozenset({403, 404, 410})
ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt came to."""

    delivered: bool
    code: str = ""  # "200", "200 errcode 310000", "connection refused"
    error: str = ""
    permanent: bool = False


def _short(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text.replace("\x00", "")[:ERROR_LENGTH]


def envelope_body(payload: dict[str, Any]) -> bytes:
    """The bytes a webhook sends and signs: compact JSON, keys in a stable order."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def webhook_secrets(channel: Channel, *, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the one it replaced during its grace."""
    secrets = [channel.secret] if channel.secret else []
    if channel.previous_secret and channel.previous_secret_until and channel.previous_secret_until > now:
        secrets.append(channel.previous_secret)
    return secrets


def webhook_headers(*, message_id: str, body: bytes, secrets: list[str], now: datetime) -> dict[str, str]:
    """Standard Webhooks' three headers for `body`, signed by each of `secrets`."""
    signatures = " ".join(Webhook(secret).sign(message_id, now, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


def dingtalk_sign(*, secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign` query value (already url-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def lark_sign(*, secret: str, timestamp: int) -> str:
    """Lark/Feishu's `sign`: the HMAC's key is "timestamp\\nsecret", its message empty."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _client() -> httpx.Client:
    return httpx.Client(timeout=settings.PREFETCH_NOTIFY_TIMEOUT, follow_redirects=False)


def _post(channel: Channel, url: str, **kwargs: Any) -> httpx.Response | Answer:
    try:
        with _client() as client:
            return client.post(url, **kwargs)
    except httpx.ConnectError as error:
        return Answer(False, "connection refused", _short(f"could not connect: {error}", url, channel.secret))
    except httpx.TimeoutException:
        return Answer(False, "timeout", f"no answer within {settings.PREFETCH_NOTIFY_TIMEOUT:g} s")
    except httpx.HTTPError as error:
        return Answer(
            False, "transport error", _short(f"{type(error).__name__}: {error}", url, channel.secret)
        )


def _json_code(response: httpx.Response, *names: str) -> tuple[int | None, str]:
    try:
        answer = response.json()
    except ValueError:
        return None, ""
    if not isinstance(answer, dict):
        return None, ""
    for name in names:
        if name in answer:
            try:
                code = int(answer[name])
            except (TypeError, ValueError):
                return None, ""
            message = answer.get("errmsg") or answer.get("msg") or answer.get("StatusMessage") or ""
            return code, str(message)
    return None, ""


def _send_webhook(channel: Channel, payload: dict[str, Any], message_id: str, now: datetime) -> Answer:
    body = envelope_body(payload)
    secrets = webhook_secrets(channel, now=now)
    if not secrets:
        return Answer(False, "no secret", "the channel has no signing secret", permanent=True)
    headers = webhook_headers(message_id=message_id, body=body, secrets=secrets, now=now)
    response = _post(channel, channel.url, content=body, headers=headers)
    if isinstance(response, Answer):
        return response
    code = str(response.status_code)
    if response.is_success:
        return Answer(True, code)
    return Answer(False, code, _short(f"HTTP {code}: {response.text[:200]}", channel.url, *secrets))


def _send_slack(channel: Channel, payload: dict[str, Any], message_id: str, now: datetime) -> Answer:
    response = _post(channel, channel.url, json={"text": message_text(payload)})
    if isinstance(response, Answer):
        return response
    code = str(response.status_code)
    text = response.text.strip()
    if response.status_code == 200 and text == "ok":
        return Answer(True, code)
    permanent = response.status_code in SLACK_PERMANENT_STATUSES
    return Answer(
        False, f"{code} {text[:40]}".strip(), _short(f"Slack answered {text[:200]!r}", channel.url), permanent
    )


def _send_dingtalk(channel: Channel, payload: dict[str, Any], message_id: str, now: datetime) -> Answer:
    url = channel.url
    if channel.secret:
        timestamp_ms = int(now.timestamp() * 1000)
        separator = "&" if "?" in url else "?"
        sign = dingtalk_sign(secret=channel.secret, timestamp_ms=timestamp_ms)
        url = f"{url}{separator}timestamp={timestamp_ms}&sign={sign}"
    body = {"msgtype": "text", "text": {"content": message_text(payload)}}
    response = _post(channel, url, json=body)
    if isinstance(response, Answer):
        return response
    errcode, message = _json_code(response, "errcode")
    code = f"{response.status_code} errcode {errcode}" if errcode is not None else str(response.status_code)
    if response.status_code == 200 and errcode == 0:
        return Answer(True, code)
    error = _short(
        f"DingTalk refused: {message}" if message else f"HTTP {response.status_code}", url, channel.url
    )
    return Answer(False, code, error, permanent=errcode in DINGTALK_PERMANENT)


def _send_lark(channel: Channel, payload: dict[str, Any], message_id: str, now: datetime) -> Answer:
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": message_text(payload)}}
    if channel.secret:
        timestamp = int(now.timestamp())
        body = {
            "timestamp": str(timestamp),
            "sign": lark_sign(secret=channel.secret, timestamp=timestamp),
            **body,
        }
    response = _post(channel, channel.url, json=body)
    if isinstance(response, Answer):
        return response
    lark_code, message = _json_code(response, "code", "StatusCode")
    code = f"{response.status_code} code {lark_code}" if lark_code is not None else str(response.status_code)
    if response.status_code == 200 and lark_code == 0:
        return Answer(True, code)
    error = _short(f"Lark refused: {message}" if message else f"HTTP {response.status_code}", channel.url)
    return Answer(False, code, error, permanent=lark_code in LARK_PERMANENT)


def _send_email(channel: Channel, payload: dict[str, Any], message_id: str, now: datetime) -> Answer:
    recipients = channel.recipient_list
    if not recipients:
        return Answer(False, "no recipients", "the channel has no address to send to", permanent=True)
    message = EmailMessage(
        subject=message_subject(payload),
        body=message_text(payload),
        to=recipients,
        headers={"X-Prefetch-Event": str(payload.get("type", "")), "X-Prefetch-Message-Id": message_id},
    )
    try:
        message.send()
    except Exception as error:  # smtplib's and socket's errors share no base worth naming
        return Answer(False, type(error).__name__, _short(f"{type(error).__name__}: {error}"))
    return Answer(True, "250")


_SENDERS = {
    ChannelKind.WEBHOOK: _send_webhook,
    ChannelKind.SLACK: _send_slack,
    ChannelKind.DINGTALK: _send_dingtalk,
    ChannelKind.LARK: _send_lark,
    ChannelKind.EMAIL: _send_email,
}


def channel_send(
    *, channel: Channel, payload: dict[str, Any], message_id: str, now: datetime | None = None
) -> Answer:
    """Send `payload` on `channel` once, and say what came of it. Never raises for the receiver's
    faults: they are the answer."""
    now = now or datetime.fromtimestamp(time.time(), tz=UTC)
    return _SENDERS[ChannelKind(channel.kind)](channel, payload, message_id, now)
