"""The compose file reader: Compose's interpolation rules, and what it refuses rather than misread."""

from __future__ import annotations

import pytest

from tests.deploy.compose_file import ComposeError, interpolate, load_services

ENVIRONMENT = {"SET": "value", "EMPTY": "", "PORT": "8001"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$SET and ${SET}", "value and value"),
        # Without the colon, a default only for a variable that is not set at all.
        ("${UNSET:-a} ${EMPTY:-a} [${EMPTY-unused}] ${UNSET-b}", "a a [] b"),
        ("${SET:+other} ${UNSET:+other}|", "other |"),
        ("0.0.0.0:${WEB_PORT:-${PORT:-8000}}", "0.0.0.0:8001"),
        ("$$HOME costs $$5", "$HOME costs $5"),
    ],
)
def test_interpolation_follows_compose(text: str, expected: str) -> None:
    assert interpolate(text, ENVIRONMENT) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${UNSET:?set UNSET}", "UNSET: set UNSET"),
        ("${EMPTY:?must not be empty}", "EMPTY: must not be empty"),
        ("${SET", "an unclosed"),
        ("cost $ 5", "a lone \\$"),
        ("${SET/x/y}", "an operator this reader does not know"),
    ],
)
def test_what_it_cannot_read_or_a_required_variable_missing_is_an_error(text: str, message: str) -> None:
    with pytest.raises(ComposeError, match=message):
        interpolate(text, ENVIRONMENT)


def test_the_project_file_needs_its_settings_and_gives_each_service_a_command() -> None:
    with pytest.raises(ComposeError, match="POSTGRES_PASSWORD: set POSTGRES_PASSWORD"):
        load_services({"ESA_ACCESS_KEY_ID": "id"})
    with pytest.raises(ComposeError, match="ESA_ACCESS_KEY_ID: set ESA_ACCESS_KEY_ID"):
        load_services({"POSTGRES_PASSWORD": "pw"})
    services = load_services(
        {
            "DJANGO_SECRET_KEY": "x" * 50,
            "POSTGRES_PASSWORD": "pw",
            "ESA_ACCESS_KEY_ID": "id",
            "ESA_ACCESS_KEY_SECRET": "secret",
        }
    )
    assert services["web"].command[:2] == ["sh", "-c"]
    assert services["worker"].command[:3] == ["celery", "-A", "prefetch_ui"]
    assert services["web"].environment["DATABASE_URL"] == "postgres://prefetch:pw@postgres:5432/prefetch"
    assert services["web"].environment["REDIS_URL"] == "redis://redis:6379/0"
    assert services["beat"].command[-1] == "/app/var/celerybeat-schedule"
