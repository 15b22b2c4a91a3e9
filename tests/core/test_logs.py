"""Logs: request ids from the web request into the Celery task it dispatched, JSON lines, no secrets."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.core.logs import (
    ROUTINE_LOGGERS,
    JsonLogFormatter,
    RequestIdFilter,
    current_request_id,
    logging_settings,
)
from prefetch_ui.esa import EsaAuthError, EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.models import Operation, Plan
from prefetch_ui.prefetch.tasks import esa_sync_task
from tests.incidents.test_workers import worker_process
from tests.polling import eventually

WORKER_SECRET_KEY = "worker-secret-key-for-this-test-" + "k" * 30
METRICS_TOKEN = "metrics-token-for-this-test-9d1c"


@contextmanager
def json_lines(*logger_names: str, level: int = logging.INFO) -> Iterator[io.StringIO]:
    """What these loggers write, formatted as production formats it (settings.LOGGING's json)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RequestIdFilter())
    loggers = [logging.getLogger(name) for name in logger_names or ("",)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(level)
    try:
        yield stream
    finally:
        for logger, before in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(before)


def parsed(text: str) -> list[dict[str, Any]]:
    """Each JSON line; the Celery banner and blank lines are not log records."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# -- a request id, from the click to the worker's log line ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_request_id_of_a_click_is_in_the_log_lines_of_the_task_it_dispatched(
    esa: EsaClient,
    sim: RunningSimulator,
    broker: str,
    operator_client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker process as production runs it (`celery worker`), logging JSON.
    monkeypatch.setenv("DJANGO_LOG_FORMAT", "json")
    monkeypatch.setenv("DJANGO_SECRET_KEY", WORKER_SECRET_KEY)
    monkeypatch.setenv("PREFETCH_METRICS_TOKEN", METRICS_TOKEN)
    worker_log = tmp_path / "worker.log"
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Homepage", urls=[f"https://example.com/{index}" for index in range(300)]
    )
    start = datetime.now(UTC).replace(microsecond=0)
    (plan,) = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start + timedelta(hours=1), 60, 5)]
    ).succeeded

    with worker_process(sim, broker, worker_log), json_lines("prefetch_ui") as web_log:
        esa_sync_task.delay()
        eventually(
            lambda: Plan.objects.filter(esa_id=plan.id, status="running").exists(),
            timeout=60,
            failure=lambda: f"the worker never synced:\n{worker_log.read_text()[-3000:]}",
        )
        clicked = operator_client.post(
            reverse("plan-action", args=[plan.id, "stop"]),
            HTTP_HX_REQUEST="true",
            HTTP_X_REQUEST_ID="click-4711",
        )
        assert clicked["X-Request-ID"] == "click-4711"
        eventually(lambda: Operation.objects.filter(status="succeeded").exists(), timeout=30)
        operation = Operation.objects.get()

        def task_logged() -> list[dict[str, Any]]:
            return [line for line in parsed(worker_log.read_text()) if line["request_id"] == "click-4711"]

        lines = eventually(task_logged, timeout=10, failure=lambda: worker_log.read_text()[-3000:])
        # Celery's "Task … succeeded" follows the task's own line; let it be written.
        eventually(lambda: len(task_logged()) >= 2, timeout=10, failure=lambda: str(task_logged()))
        lines = task_logged()

    # The web's own line of the click…
    (requested,) = [line for line in parsed(web_log.getvalue()) if line.get("operation_id") == operation.pk]
    assert requested["request_id"] == "click-4711"
    assert requested["message"].startswith(f"operation {operation.pk} requested: plan_stop on {plan.id}")
    # …and the worker's: ours and Celery's own, in the same JSON format.
    by_logger = {line["logger"]: line for line in lines}
    outcome = by_logger["prefetch_ui.prefetch.services.operations"]
    assert outcome["message"] == (
        f"operation {operation.pk} (plan_stop on {plan.id}): succeeded RequestId {operation.request_id}"
    )
    assert (outcome["level"], outcome["operation_id"]) == ("INFO", operation.pk)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", outcome["time"])
    assert "succeeded" in by_logger["celery.app.trace"]["message"]
    # The sync, sent by no request, carries none: the id is cleared after each task.
    synced = [line for line in parsed(worker_log.read_text()) if line["message"].startswith("ESA sync:")]
    assert synced and all(line["request_id"] is None for line in synced)

    # Every line the worker logged as JSON is JSON, and no secret is in either log.
    everything = worker_log.read_text() + web_log.getvalue()
    assert len(parsed(worker_log.read_text())) >= 5
    for secret in (
        sim.access_key_secret,
        settings.ESA_ACCESS_KEY_SECRET,
        settings.SECRET_KEY,
        WORKER_SECRET_KEY,
        METRICS_TOKEN,
    ):
        assert secret not in everything


# -- the middleware ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("5f0c8a2e-3b1d-4c6e-9a7f-0d2b4e6f8a1c", True),
        ("Root=1-67891233-abcdef012345678912345678", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("two words", False),
        ("forged\nline", False),
        ('"quoted"', False),
        ("", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_sane(client: Client, incoming: str, kept: bool) -> None:
    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID=incoming)

    if kept:
        assert response["X-Request-ID"] == incoming
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_each_request_gets_its_own_id(client: Client) -> None:
    ids = {client.get(reverse("healthz"))["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3
    assert current_request_id() is None  # cleared when the request finished


@pytest.mark.django_db
def test_django_s_own_error_lines_carry_the_request_id(client: Client, operator: User) -> None:
    client.force_login(operator)
    with json_lines("django.request", level=logging.WARNING) as log:
        response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="lost-page-1")

    assert response.status_code == 404
    (line,) = parsed(log.getvalue())
    assert (line["level"], line["message"], line["request_id"]) == (
        "WARNING",
        "Not Found: /no-such-page/",
        "lost-page-1",
    )
    assert "request" not in line  # Django's request object is not data


# -- the JSON lines themselves ----------------------------------------------------------------------


def test_a_json_line_carries_the_exception() -> None:
    with json_lines("tests.logs") as log:
        try:
            raise ValueError("the reason")
        except ValueError:
            logging.getLogger("tests.logs").exception("it failed", extra={"plan": "p1"})

    (line,) = parsed(log.getvalue())
    assert (line["level"], line["logger"], line["message"], line["plan"]) == (
        "ERROR",
        "tests.logs",
        "it failed",
        "p1",
    )
    assert line["request_id"] is None
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: the reason")


def test_json_logs_of_a_refused_esa_call_hold_no_secret(sim: RunningSimulator) -> None:
    # Every logger, down to httpx and httpcore at DEBUG, as test_errors.py checks the plain text.
    with json_lines(level=logging.DEBUG) as log:
        with sim.client(access_key_secret="the-wrong-secret-4711") as wrong, pytest.raises(EsaAuthError):
            wrong.list_sites()
        with sim.client() as right:
            right.list_sites()

    lines = parsed(log.getvalue())
    assert any(line["logger"].startswith(("httpx", "httpcore")) for line in lines)
    assert "SignatureDoesNotMatch" in log.getvalue()
    assert "the-wrong-secret-4711" not in log.getvalue()
    assert sim.access_key_secret not in log.getvalue()


# -- DJANGO_LOG_FORMAT ------------------------------------------------------------------------------


def _settings_in_a_new_process(**environ: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PREFETCH_"))}
    env |= {"DJANGO_SETTINGS_MODULE": "prefetch_ui.settings", "DJANGO_SECRET_KEY": "k" * 50} | environ
    script = "from django.conf import settings; print(settings.LOGGING['handlers']['console']['formatter'])"
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("environ", "formatter"),
    [
        ({"DJANGO_DEBUG": "false"}, "json"),
        ({"DJANGO_DEBUG": "true"}, "plain"),
        ({"DJANGO_DEBUG": "false", "DJANGO_LOG_FORMAT": "plain"}, "plain"),
        ({"DJANGO_DEBUG": "true", "DJANGO_LOG_FORMAT": "JSON"}, "json"),
    ],
)
def test_log_format_defaults_to_json_in_production(environ: dict[str, str], formatter: str) -> None:
    answer = _settings_in_a_new_process(**environ)
    assert (answer.returncode, answer.stdout.strip()) == (0, formatter), answer.stderr


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"DJANGO_LOG_FORMAT": "xml"}, "DJANGO_LOG_FORMAT must be json or plain"),
        ({"PREFETCH_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}, "not a network (CIDR): 'intranet'"),
    ],
)
def test_a_mistyped_setting_stops_the_start(environ: dict[str, str], complaint: str) -> None:
    answer = _settings_in_a_new_process(**environ)
    assert answer.returncode != 0
    assert complaint in answer.stderr


def test_without_routine_lines_a_task_received_and_succeeded_says_nothing_and_a_warning_still_shows() -> None:
    """`make run` without --verbose: the routine loggers say only warnings; ours still say INFO."""
    names = (*ROUTINE_LOGGERS, "prefetch_ui.prefetch.services.operations")
    before = {name: logging.getLogger(name).level for name in names}
    try:
        logging.config.dictConfig(logging_settings(log_format="plain", level="INFO", routine=False))
        for name in ROUTINE_LOGGERS:
            routine = logging.getLogger(name)
            assert not routine.isEnabledFor(logging.INFO) and routine.isEnabledFor(logging.WARNING), name
        assert logging.getLogger("prefetch_ui.prefetch.services.operations").isEnabledFor(logging.INFO)
        # With routine lines (the default, and --verbose), they are left at the level of the rest.
        assert not set(ROUTINE_LOGGERS) & set(logging_settings(log_format="plain", level="INFO")["loggers"])
    finally:
        logging.config.dictConfig(settings.LOGGING)
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
