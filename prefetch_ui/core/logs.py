"""Logs: one JSON object a line in production, each carrying the id of the web request it serves, or
of the web request that dispatched the Celery task it runs in.

- `RequestIdMiddleware` takes a sane incoming `X-Request-ID` (a proxy's or a client's) or makes one,
  keeps it in a context variable for the request and echoes it in the response.
- `RequestIdFilter` (on the handlers, see settings.LOGGING) copies it onto every record.
- Celery: a task published while a request id is set carries it in a message header
  (`before_task_publish`); the worker sets it around the task (`task_prerun` / `task_postrun`), so the
  worker's lines, Celery's own included, carry it, as do the tasks that task publishes in turn.
- The worker logs with settings.LOGGING, as the web does, instead of Celery's own format
  (`setup_logging`: Celery configures nothing once someone answers it).

`JsonLogFormatter` (python-json-logger) writes `time` (UTC, ISO 8601), `level`, `logger`, `message`,
`request_id`, `exception` (the traceback) when there is one, and whatever `extra=` a caller gave.
"""

from __future__ import annotations

import logging
import logging.config
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

__all__ = [
    "REQUEST_ID_HEADER",
    "JsonLogFormatter",
    "RequestIdFilter",
    "RequestIdMiddleware",
    "connect_log_signals",
    "current_request_id",
]

REQUEST_ID_HEADER = "X-Request-ID"
# The Celery message header that carries it to the worker.
TASK_HEADER = "request_id"
# What we accept from outside: ids as proxies and tracers make them (UUIDs, hex, "Root=1-…"), never
# spaces, quotes or line breaks that could forge a log line, and not too long.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# The value the worker replaced while it runs a task, by task id, to put back afterwards.
_task_tokens: dict[str, Token[str | None]] = {}


def current_request_id() -> str | None:
    """The request id of the web request, or of the task, this code runs for; None outside both."""
    return _request_id.get()


class RequestIdMiddleware:
    """Gives every request an id: for its log lines, its tasks', and its response's `X-Request-ID`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        # Not reset on the way out: Django logs a 4xx or 5xx after the middleware has returned, and
        # that line needs the id most. `request_finished` clears it (see connect_log_signals).
        _request_id.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the current one, else `missing` (None: null in JSON)."""

    def __init__(self, missing: str | None = None) -> None:
        super().__init__()
        self.missing = missing

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or self.missing
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message, request_id, exception, and any extras."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            "{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "stack_info": "stack",
            },
            # Django passes the request (or the dev server's socket) along: its repr says nothing the
            # message does not, and it is not data.
            reserved_attrs=[*RESERVED_ATTRS, "request", "server_time"],
            **kwargs,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)


# -- signals: the web request's end, and Celery ------------------------------------------------------


def _request_finished(**_: Any) -> None:
    _request_id.set(None)


def _task_published(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = _request_id.get()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def _task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id is None or task is None:
        return
    request_id = task.request.get(TASK_HEADER)
    _task_tokens[task_id] = _request_id.set(request_id if isinstance(request_id, str) else None)


def _task_ended(task_id: str | None = None, **_: Any) -> None:
    token = _task_tokens.pop(task_id, None) if task_id is not None else None
    if token is not None:
        _request_id.reset(token)


def _worker_logging(loglevel: int | str | None = None, **_: Any) -> None:
    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        # The worker's --loglevel, as Celery's own configuration would have applied it.
        logging.getLogger().setLevel(loglevel)


def connect_log_signals() -> None:
    from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun
    from django.core.signals import request_finished

    request_finished.connect(_request_finished, weak=False, dispatch_uid="prefetch-request-id")
    before_task_publish.connect(_task_published, weak=False)
    task_prerun.connect(_task_started, weak=False)
    task_postrun.connect(_task_ended, weak=False)
    setup_logging.connect(_worker_logging, weak=False)


# What says only that routine work happened: a task received and succeeded (the sweeps and the sync
# run every few seconds), beat sending one, the development server's line per request (polls).
ROUTINE_LOGGERS = ("celery.worker.strategy", "celery.app.trace", "celery.beat", "django.server")


def logging_settings(*, log_format: str, level: str, routine: bool = True) -> dict[str, Any]:
    """Django's LOGGING for `log_format` ("json": one object a line; "plain": text) at `level`: every
    line carries its request_id; httpx's line per request is left out (our code logs failures).
    Without `routine`, ROUTINE_LOGGERS say only warnings and errors (`make run`'s console)."""
    quiet = {} if routine else {name: {"level": "WARNING"} for name in ROUTINE_LOGGERS}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {
                "()": "prefetch_ui.core.logs.RequestIdFilter",
                "missing": "-" if log_format == "plain" else None,
            },
        },
        "formatters": {
            "plain": {"format": "{asctime} {levelname} {name} [{request_id}]: {message}", "style": "{"},
            "json": {"()": "prefetch_ui.core.logs.JsonLogFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # One line per ESA request drowns the worker's log; failures are logged by our code.
            "httpx": {"level": "WARNING"},
            **quiet,
        },
    }
