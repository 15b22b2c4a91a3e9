"""Production over HTTPS: the settings production gets from its environment, Django's deployment checks
on them, and what a request meets (the redirect to HTTPS, HSTS, the probes left on plain HTTP)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from pytest_django import Settings

from tests.test_settings import PRODUCTION, manage, settings_from

YEAR = 365 * 24 * 60 * 60
# What the HTTPS part of settings.py decides; copied onto the test settings for the request tests.
HTTPS_SETTINGS = (
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
)


def test_production_defaults_to_https_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_from(monkeypatch, **PRODUCTION)

    assert loaded["SECURE_SSL_REDIRECT"] is True
    assert (loaded["SECURE_HSTS_SECONDS"], loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"]) == (YEAR, True)
    assert loaded["SECURE_HSTS_PRELOAD"] is True
    assert loaded["SESSION_COOKIE_SECURE"] is loaded["CSRF_COOKIE_SECURE"] is True
    assert loaded["SECURE_PROXY_SSL_HEADER"] is None  # trusting a header is a choice made per deployment


def test_each_https_setting_can_be_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_from(
        monkeypatch,
        **PRODUCTION,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_HSTS_SECONDS="3600",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        DJANGO_SECURE_HSTS_PRELOAD="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://prefetch.example.com:8443",
    )

    assert loaded["SECURE_SSL_REDIRECT"] is False
    assert (loaded["SECURE_HSTS_SECONDS"], loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"]) == (3600, False)
    assert loaded["SECURE_HSTS_PRELOAD"] is False
    assert loaded["SESSION_COOKIE_SECURE"] is loaded["CSRF_COOKIE_SECURE"] is False
    assert loaded["CSRF_TRUSTED_ORIGINS"] == ["https://prefetch.example.com:8443"]


def test_debug_leaves_https_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_from(monkeypatch, DJANGO_SECURE_SSL_REDIRECT="true")

    # `make run` serves plain HTTP on 127.0.0.1: none of it applies (Django's defaults stay).
    assert not {"SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE"} & loaded.keys()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("X-Forwarded-Proto", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("x-forwarded-proto: https", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("X-Forwarded-Ssl: on", ("HTTP_X_FORWARDED_SSL", "on")),
    ],
)
def test_the_proxys_https_header(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: tuple[str, str]
) -> None:
    loaded = settings_from(monkeypatch, **PRODUCTION, DJANGO_SECURE_PROXY_SSL_HEADER=raw)

    assert loaded["SECURE_PROXY_SSL_HEADER"] == expected


def test_a_header_that_is_not_one_stops_the_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECURE_PROXY_SSL_HEADER must be a header name"):
        settings_from(monkeypatch, DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO=https")


def test_the_deployment_checks_pass_with_production_settings() -> None:
    # `make check-deploy` runs the same in CI; this keeps the promise next to the settings' tests.
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# -- what a request meets -----------------------------------------------------------------------------


@pytest.fixture
def production_https(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test settings with production's HTTPS part, behind a proxy that says X-Forwarded-Proto."""
    with monkeypatch.context() as env:
        loaded = settings_from(env, **PRODUCTION, DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    for name in HTTPS_SETTINGS:
        setattr(settings, name, loaded[name])


@pytest.mark.usefixtures("production_https")
def test_plain_http_is_sent_to_https(client: Client) -> None:
    response = client.get("/accounts/login/?next=/jobs/1/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/?next=/jobs/1/"
    assert "Strict-Transport-Security" not in response  # never on plain HTTP


@pytest.mark.usefixtures("production_https", "db")
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_the_probes_stay_on_plain_http(client: Client, path: str) -> None:
    response = client.get(path)

    # Answered over plain HTTP (200, or 503 from /readyz with nothing running): never redirected.
    assert response.status_code in (200, 503)


@pytest.mark.usefixtures("production_https")
def test_https_through_the_proxy_gets_hsts_and_secure_cookies(client: Client) -> None:
    response = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == f"max-age={YEAR}; includeSubDomains; preload"
    assert response.cookies["csrftoken"]["secure"] is True
