"""prefetch_ui/settings.py read from an environment: each test evaluates the module afresh (it only reads
variables and files), so the running test settings are never touched."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

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
