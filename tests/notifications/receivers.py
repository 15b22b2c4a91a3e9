"""Real receivers for the notification tests, each a stdlib HTTP server in a thread (or aiosmtpd's
SMTP server), checking what arrives as the real receiver would:

- `standard_webhooks_receiver`: verifies every delivery with the `standardwebhooks` library's
  `Webhook.verify`, with any of the secrets it knows (a rotation's old and new);
- `dingtalk_receiver`: checks DingTalk's `timestamp` + `sign` query and answers `errcode`;
- `lark_receiver`: checks Lark's `timestamp` + `sign` body and answers `code`;
- `slack_receiver`: answers `ok`;
- `smtp_receiver`: aiosmtpd, keeping each message.

A receiver can refuse on demand (`refuse_with`), answering 200 with a non-zero code as the robots do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    """What a receiver got: the verified deliveries (headers and parsed body), and the refused ones."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    requests: int = 0
    # A code to refuse with (200 and this errcode/code), None: accept.
    refuse_with: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler], port: int = 0) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    received: Received

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))


@contextmanager
def standard_webhooks_receiver(secrets: list[str], port: int = 0) -> Iterator[tuple[str, Received]]:
    """A webhook endpoint verifying Standard Webhooks signatures with the library; `secrets` may be
    changed while it runs (a rotation)."""
    received = Received()

    class Handler(_Handler):
        def do_POST(self) -> None:
            body = self._body()
            headers = dict(self.headers.items())
            with received.lock:
                received.requests += 1
            for secret in list(secrets):
                try:
                    payload = Webhook(secret).verify(body, headers)
                except WebhookVerificationError:
                    continue
                with received.lock:
                    received.accepted.append({"headers": headers, "payload": payload, "secret": secret})
                self._answer(204, b"")
                return
            with received.lock:
                received.refused.append("no matching signature")
            self._answer(401, b'{"error":"bad signature"}')

    with _serve(Handler, port) as url:
        yield f"{url}/hooks/prefetch", received


@contextmanager
def dingtalk_receiver(secret: str) -> Iterator[tuple[str, Received]]:
    """DingTalk's robot: `timestamp` (ms) and `sign` in the query, checked as DingTalk does."""
    received = Received()

    class Handler(_Handler):
        def do_POST(self) -> None:
            body = self._body()
            query = parse_qs(urlsplit(self.path).query)
            with received.lock:
                received.requests += 1
            timestamp = query.get("timestamp", [""])[0]
            sign = query.get("sign", [""])[0]  # parse_qs decoded the url-encoding once
            digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
            if query.get("access_token") != ["robot-token"] or sign != base64.b64encode(digest).decode():
                with received.lock:
                    received.refused.append("sign not match")
                self._answer(200, b'{"errcode":310000,"errmsg":"sign not match"}')
                return
            if received.refuse_with is not None:
                with received.lock:
                    received.refused.append(str(received.refuse_with))
                answer = {"errcode": received.refuse_with, "errmsg": "send too fast"}
                self._answer(200, json.dumps(answer).encode())
                return
            with received.lock:
                received.accepted.append({"payload": json.loads(body), "timestamp": timestamp})
            self._answer(200, b'{"errcode":0,"errmsg":"ok"}')

    with _serve(Handler) as url:
        yield f"{url}/robot/send?access_token=robot-token", received


@contextmanager
def lark_receiver(secret: str, *, old_style: bool = False) -> Iterator[tuple[str, Received]]:
    """Lark/Feishu's robot: `timestamp` (s) and `sign` in the body; answers `code` (or the older
    `StatusCode`)."""
    received = Received()

    class Handler(_Handler):
        def do_POST(self) -> None:
            payload = json.loads(self._body())
            with received.lock:
                received.requests += 1
            timestamp = str(payload.get("timestamp", ""))
            expected = base64.b64encode(
                hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
            ).decode()
            code, message = 0, "success"
            if payload.get("sign") != expected:
                code, message = 19021, "sign match fail or timestamp is not within one hour from current time"
            elif received.refuse_with is not None:
                code, message = received.refuse_with, "request too frequent"
            with received.lock:
                if code == 0:
                    received.accepted.append(payload)
                else:
                    received.refused.append(message)
            answer = (
                {"StatusCode": code, "StatusMessage": message}
                if old_style and code == 0
                else {"code": code, "msg": message, "data": {}}
            )
            self._answer(200, json.dumps(answer).encode())

    with _serve(Handler) as url:
        yield f"{url}/open-apis/bot/v2/hook/robot-token", received


@contextmanager
def slack_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(_Handler):
        def do_POST(self) -> None:
            payload = json.loads(self._body())
            with received.lock:
                received.requests += 1
                received.accepted.append(payload)
            self._answer(200, b"ok", "text/html")

    with _serve(Handler) as url:
        yield f"{url}/services/T000/B000/slack-token", received


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, list[Message]]]:
    """A real SMTP server (aiosmtpd) on a free port: the messages it accepted."""
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, mailbox.messages
    finally:
        controller.stop()


__all__ = [
    "Received",
    "dingtalk_receiver",
    "free_port",
    "lark_receiver",
    "slack_receiver",
    "smtp_receiver",
    "standard_webhooks_receiver",
    "unquote_plus",
]
