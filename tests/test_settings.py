"""prefetch_ui/settings.py read from an environment: each test evaluates the module afresh (it only reads
variables and files), so the running test settings are never touched."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values
from environs import EnvValidationError

import prefetch_ui.settings

REPO_DIR = Path(__file__).resolve().parents[1]
# Variables the settings read: cleared before each evaluation, so the machine's own do not leak in.
PREFIXES = ("DJANGO_", "ESA_", "PREFETCH_")

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "a-production-key-" + "x7Qp2" * 10,
    "DJANGO_ALLOWED_HOSTS": "prefetch.example.com",
}


def _environment(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith(PREFIXES)} | env


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """The settings module's names as the environment `env` (and nothing else of ours) makes them."""
    for name in os.environ:
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(prefetch_ui.settings.__file__)


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`manage.py` in a process of its own, with `env` instead of our variables."""
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "manage.py", *args],
        cwd=REPO_DIR,
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- secrets from the environment or from a file ------------------------------------------------------


def test_the_esa_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_from(monkeypatch, ESA_ACCESS_KEY_SECRET="from-the-environment")

    assert loaded["ESA_ACCESS_KEY_SECRET"] == "from-the-environment"


def test_the_esa_secret_comes_from_a_file_without_its_trailing_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "esa_secret"
    secret_file.write_text("from-a-file\n")

    loaded = settings_from(monkeypatch, ESA_ACCESS_KEY_SECRET_FILE=str(secret_file))

    assert loaded["ESA_ACCESS_KEY_SECRET"] == "from-a-file"


@pytest.mark.parametrize(
    ("content", "expected"), [("one\r\n", "one"), ("two\n\n", "two\n"), (" three ", " three ")]
)
def test_only_one_trailing_newline_is_dropped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str, expected: str
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(content.encode())

    loaded = settings_from(monkeypatch, ESA_ACCESS_KEY_SECRET_FILE=str(secret_file))

    assert loaded["ESA_ACCESS_KEY_SECRET"] == expected


def test_without_either_the_esa_secret_is_the_simulators(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from(monkeypatch)["ESA_ACCESS_KEY_SECRET"] == "SimulatorDemoSecret-not-for-production"


def test_the_secret_key_comes_from_a_file_in_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "secret_key"
    key_file.write_text("k" * 60 + "\n")
    env = PRODUCTION | {"DJANGO_SECRET_KEY_FILE": str(key_file)}
    del env["DJANGO_SECRET_KEY"]

    loaded = settings_from(monkeypatch, **env)

    assert loaded["SECRET_KEY"] == "k" * 60


def test_the_same_secret_in_the_variable_and_the_file_is_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "esa_secret"
    secret_file.write_text("same\n")

    loaded = settings_from(
        monkeypatch, ESA_ACCESS_KEY_SECRET="same", ESA_ACCESS_KEY_SECRET_FILE=str(secret_file)
    )

    assert loaded["ESA_ACCESS_KEY_SECRET"] == "same"


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        (lambda path: None, r"ESA_ACCESS_KEY_SECRET_FILE names a file that cannot be read: .*No such file"),
        (lambda path: path.write_text("\n"), r"ESA_ACCESS_KEY_SECRET_FILE names an empty file"),
        (lambda path: path.mkdir(), r"ESA_ACCESS_KEY_SECRET_FILE names a file that cannot be read"),
        (lambda path: path.write_bytes(b"\xff\xfe"), r"cannot be read: .* \(not UTF-8 text\)"),
    ],
    ids=["missing", "empty", "a folder", "not text"],
)
def test_an_unusable_secret_file_stops_the_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_file: Any, message: str
) -> None:
    path = tmp_path / "esa_secret"
    make_file(path)

    with pytest.raises(ImproperlyConfigured, match=message):
        settings_from(monkeypatch, ESA_ACCESS_KEY_SECRET_FILE=str(path))


def test_a_variable_and_a_file_that_disagree_stop_the_start_up_without_showing_either(tmp_path: Path) -> None:
    secret_file = tmp_path / "esa_secret"
    secret_file.write_text("the-file-secret-5309\n")

    result = manage(
        "check",
        env={
            "ESA_ACCESS_KEY_SECRET": "the-variable-secret-8675",
            "ESA_ACCESS_KEY_SECRET_FILE": str(secret_file),
        },
    )

    assert result.returncode != 0
    assert (
        "ESA_ACCESS_KEY_SECRET and ESA_ACCESS_KEY_SECRET_FILE are both set, to different values"
        in result.stderr
    )
    for secret in ("the-file-secret-5309", "the-variable-secret-8675"):
        assert secret not in result.stdout + result.stderr


# -- typed values: a malformed one stops the start-up and names the variable ------------------------

# Where a variable is read only in some configurations: what else it needs to be read at all.
NEEDS = {
    "DJANGO_EMAIL_PORT": {
        "DJANGO_EMAIL_HOST": "smtp.example.com",
        "DJANGO_DEFAULT_FROM_EMAIL": "a@example.com",
    },
    "DJANGO_EMAIL_USE_SSL": {"DJANGO_EMAIL_HOST": "smtp.example.com"},
    "DJANGO_EMAIL_USE_TLS": {"DJANGO_EMAIL_HOST": "smtp.example.com"},
    "DJANGO_SECURE_HSTS_SECONDS": PRODUCTION,
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": PRODUCTION,
    "DJANGO_SECURE_HSTS_PRELOAD": PRODUCTION,
    "DJANGO_SECURE_SSL_REDIRECT": PRODUCTION,
    "DJANGO_SECURE_COOKIES": PRODUCTION,
}
WHOLE_NUMBERS = [
    "DJANGO_EMAIL_PORT",
    "DJANGO_SECURE_HSTS_SECONDS",
    "PREFETCH_LOGIN_FAILURE_LIMIT",
    "PREFETCH_TRUSTED_PROXY_COUNT",
    "PREFETCH_ESA_CALLS_PER_SECOND",
    "PREFETCH_ESA_BUDGET_MARGIN_MS",
    "PREFETCH_SYNC_JOB_PAGE_SIZE",
    "PREFETCH_MAX_INTERVAL",
    "PREFETCH_MAX_SLICE_LEN",
    "PREFETCH_MAX_PLANS_PER_JOB",
    "PREFETCH_MAX_URLS_PER_JOB",
    "PREFETCH_MAX_URL_LENGTH",
    "PREFETCH_POLL_MIN_SECONDS",
    "PREFETCH_HOLD_PARK_DAYS",
    "PREFETCH_INCIDENT_DRAINERS",
    "CELERY_WORKER_CONCURRENCY",
    "PREFETCH_RESCHEDULE_LEAD_SECONDS",
    "PREFETCH_LATE_AFTER_SECONDS",
    "PREFETCH_NOTIFY_MAX_ATTEMPTS",
]
NUMBERS = [
    "ESA_TIMEOUT",
    "PREFETCH_LOGIN_COOLOFF_MINUTES",
    "PREFETCH_SYNC_PERIOD",
    "PREFETCH_SETTLED_JOB_RESYNC",
    "PREFETCH_SYNC_BACKLOG_SECONDS",
    "PREFETCH_SYNC_LIMITS_PERIOD",
    "PREFETCH_SWEEP_PERIOD",
    "PREFETCH_OPERATION_WAIT_SECONDS",
    "PREFETCH_READY_TIMEOUT",
    "PREFETCH_READY_WORKER_MAX_AGE",
    "PREFETCH_READY_SYNC_MAX_AGE",
    "PREFETCH_INCIDENT_SWEEP_PERIOD",
    "PREFETCH_ALERT_SWEEP_PERIOD",
    "PREFETCH_NOTIFY_SCAN_PERIOD",
    "PREFETCH_NOTIFY_SWEEP_PERIOD",
    "PREFETCH_NOTIFY_RETRY_BASE_SECONDS",
    "PREFETCH_NOTIFY_RETRY_MAX_SECONDS",
    "PREFETCH_NOTIFY_JOBS_SCAN_PERIOD",
    "PREFETCH_NOTIFY_TIMEOUT",
    "PREFETCH_NOTIFY_SYNC_STALE_SECONDS",
    "PREFETCH_NOTIFY_NO_WORKER_SECONDS",
    "PREFETCH_NOTIFY_SECRET_GRACE_HOURS",
]
BOOLEANS = [
    "DJANGO_DEBUG",
    "DJANGO_EMAIL_USE_SSL",
    "DJANGO_EMAIL_USE_TLS",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_SECURE_HSTS_PRELOAD",
    "DJANGO_SECURE_COOKIES",
    "PREFETCH_LOG_ROUTINE",
]


def test_every_typed_variable_is_in_these_tests() -> None:
    source = Path(prefetch_ui.settings.__file__).read_text(encoding="utf-8")
    read = {kind: set(re.findall(rf'env\.{kind}\(\s*"(\w+)"', source)) for kind in ("int", "float", "bool")}

    assert read == {"int": set(WHOLE_NUMBERS), "float": set(NUMBERS), "bool": set(BOOLEANS)}


def _refused(monkeypatch: pytest.MonkeyPatch, name: str, raw: str) -> str:
    """The message of the start-up's refusal when `name` is `raw`."""
    with pytest.raises(EnvValidationError) as refusal:
        settings_from(monkeypatch, **NEEDS.get(name, {}), **{name: raw})
    return str(refusal.value)


@pytest.mark.parametrize("name", WHOLE_NUMBERS)
@pytest.mark.parametrize("raw", ["5.7", "1e3", "five", ""])
def test_a_whole_number_that_is_not_one_stops_the_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    # "5.7" used to become 5, and "1e3" 1000, without a word.
    assert _refused(monkeypatch, name, raw) == f'Environment variable "{name}" invalid: Not a valid integer.'


@pytest.mark.parametrize("name", NUMBERS)
@pytest.mark.parametrize("raw", ["abc", "5,7", "nan", "inf", ""])
def test_a_number_that_is_not_one_stops_the_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    assert f'Environment variable "{name}" invalid' in _refused(monkeypatch, name, raw)


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize("raw", ["maybe", "2", "tru", ""])
def test_a_boolean_that_is_not_one_stops_the_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    assert _refused(monkeypatch, name, raw) == f'Environment variable "{name}" invalid: Not a valid boolean.'


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("PREFETCH_LOGIN_FAILURE_LIMIT", "0"),
        ("PREFETCH_LOGIN_FAILURE_LIMIT", "-3"),
        ("PREFETCH_LOGIN_COOLOFF_MINUTES", "0"),
        ("PREFETCH_LOGIN_COOLOFF_MINUTES", "-15"),
        ("PREFETCH_TRUSTED_PROXY_COUNT", "0"),
        ("PREFETCH_SYNC_BACKLOG_SECONDS", "0"),
        ("PREFETCH_SYNC_BACKLOG_SECONDS", "-60"),
        ("PREFETCH_SYNC_LIMITS_PERIOD", "0"),
        ("PREFETCH_INCIDENT_DRAINERS", "0"),
        ("PREFETCH_INCIDENT_DRAINERS", "-1"),
        ("PREFETCH_NOTIFY_MAX_ATTEMPTS", "0"),
        ("PREFETCH_NOTIFY_RETRY_BASE_SECONDS", "0"),
        ("PREFETCH_NOTIFY_TIMEOUT", "-1"),
    ],
)
def test_a_number_out_of_its_range_stops_the_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    assert f'Environment variable "{name}" invalid: [\'Must be greater than' in _refused(
        monkeypatch, name, raw
    )


def test_numbers_are_read_as_their_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELERY_WORKER_CONCURRENCY", raising=False)

    loaded = settings_from(
        monkeypatch,
        PREFETCH_INCIDENT_DRAINERS=" 6 ",
        PREFETCH_SYNC_PERIOD="2.5",
        PREFETCH_POLL_MIN_SECONDS="0",
    )

    assert loaded["PREFETCH_INCIDENT_DRAINERS"] == 6
    assert loaded["CELERY_WORKER_CONCURRENCY"] == 2 * 6 + 5  # its default follows the drainers
    assert loaded["PREFETCH_SYNC_PERIOD"] == 2.5
    assert loaded["PREFETCH_READY_SYNC_MAX_AGE"] == 60.0  # 20 periods, never under a minute
    assert loaded["PREFETCH_POLL_MIN_SECONDS"] == 1  # raised to the floor, as before


@pytest.mark.parametrize("raw", ["", "not-a-url", "nosuchdb://host/name"])
def test_a_database_url_that_is_not_one_stops_the_start_up(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    # An empty one used to fail later with a KeyError that named nothing.
    with pytest.raises(EnvValidationError, match='"DATABASE_URL" invalid: Not a valid database URL'):
        settings_from(monkeypatch, DATABASE_URL=raw)


def test_a_time_zone_that_is_not_one_stops_the_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EnvValidationError, match=r'"PREFETCH_DISPLAY_TIME_ZONE" invalid: .*Mars/Olympus'):
        settings_from(monkeypatch, PREFETCH_DISPLAY_TIME_ZONE="Mars/Olympus")


def test_lists_ignore_blanks_and_empty_items(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_from(monkeypatch, DJANGO_ALLOWED_HOSTS=" a.example.com, b.example.com,, ")

    assert loaded["ALLOWED_HOSTS"] == ["a.example.com", "b.example.com"]


def test_a_malformed_number_stops_manage_py_and_says_which() -> None:
    result = manage("check", env={"PREFETCH_INCIDENT_DRAINERS": "5.7"})

    assert result.returncode != 0
    assert 'Environment variable "PREFETCH_INCIDENT_DRAINERS" invalid: Not a valid integer.' in result.stderr


def test_a_refused_database_url_does_not_show_its_password() -> None:
    result = manage(
        "check", env={"DATABASE_URL": "postgres://prefetch:pw-1234-secret@db:not-a-port/prefetch"}
    )

    assert result.returncode != 0
    assert '"DATABASE_URL" invalid' in result.stderr
    assert "pw-1234-secret" not in result.stdout + result.stderr


# -- .env.example says what the settings do -----------------------------------------------------------


def test_the_example_environment_starts_with_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # As copied, empty lines included: an empty number or DATABASE_URL would stop the start-up.
    example = {
        name: value for name, value in dotenv_values(REPO_DIR / ".env.example").items() if value is not None
    }
    defaults = settings_from(monkeypatch)

    from_example = settings_from(monkeypatch, **example)

    for name in ("DEBUG", "ALLOWED_HOSTS", "DATABASES", "REDIS_URL", "ESA_ENDPOINT", "ESA_ACCESS_KEY_SECRET"):
        assert from_example[name] == defaults[name], name
    assert (from_example["ESA_TIMEOUT"], from_example["LOGGING"]) == (
        defaults["ESA_TIMEOUT"],
        defaults["LOGGING"],
    )


def test_the_numbers_the_example_shows_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = re.findall(r"^# (PREFETCH_\w+)=([0-9.]+)$", (REPO_DIR / ".env.example").read_text(), re.MULTILINE)
    defaults = settings_from(monkeypatch)

    assert len(shown) > 10
    for name, value in shown:
        assert defaults[name] == float(value), name
        assert settings_from(monkeypatch, **{name: value})[name] == defaults[name], name
