"""Token authentication: every way a token fails is a 401 in JSON, a call outside its scopes a 403,
and the API never asks for a session (nor does a session open it)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from prefetch_ui.api.models import ApiToken
from tests.api.conftest import MakeToken, bearer

pytestmark = pytest.mark.django_db

SITES = "/api/v1/sites"


def _refusal(headers: dict[str, str], client: Client | None = None) -> tuple[int, str, str]:
    response = (client or Client()).get(SITES, headers=headers)
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, response.json()["code"], response.get("WWW-Authenticate", "")


def test_a_good_token_opens_the_api_and_notes_when_it_was_used(read_token: str) -> None:
    response = Client().get(SITES, headers=bearer(read_token))
    assert response.status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
def test_no_bearer_token_is_401_token_missing(headers: dict[str, str]) -> None:
    assert _refusal(headers) == (401, "token_missing", 'Bearer realm="prefetch_ui"')


def test_a_session_does_not_open_the_api(operator_client: Client) -> None:
    assert _refusal({}, operator_client)[:2] == (401, "token_missing")


@pytest.mark.parametrize(
    "spoil",
    [
        lambda token: "pfu_000000000000_" + token.split("_", 2)[2],  # unknown key id
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # wrong secret
        lambda token: token.removeprefix("pfu_"),
        lambda token: "x" * 5000,
        lambda token: token + "\u00e9",
        lambda token: "pfu__",
    ],
)
def test_an_unknown_or_malformed_token_is_401_token_invalid(read_token: str, spoil: object) -> None:
    assert callable(spoil)
    assert _refusal(bearer(spoil(read_token)))[:2] == (401, "token_invalid")


def test_an_expired_token_is_401(read_token: str) -> None:
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _refusal(bearer(read_token))[:2] == (401, "token_invalid")


def test_a_revoked_token_is_401(read_token: str, viewer_client: Client) -> None:
    viewer_client.post(f"/api/tokens/{ApiToken.objects.get().pk}/revoke/")
    assert _refusal(bearer(read_token))[:2] == (401, "token_invalid")


def test_a_token_of_an_inactive_user_is_401(read_token: str, viewer: User) -> None:
    viewer.is_active = False
    viewer.save()
    assert _refusal(bearer(read_token))[:2] == (401, "token_invalid")


def test_a_call_outside_the_tokens_scopes_is_403(operator: User, make_token: MakeToken) -> None:
    token = make_token(operator, scopes=["operate", "incidents"])
    response = Client().get(SITES, headers=bearer(token))
    assert (response.status_code, response.json()) == (
        403,
        {"code": "scope_missing", "message": "This token does not have the read scope.", "field": None},
    )


def test_no_shared_cache_keeps_an_answer(read_token: str) -> None:
    for headers in (bearer(read_token), {}):
        response = Client().get(SITES, headers=headers)
        assert set(response["Cache-Control"].split(", ")) == {"private", "no-store"}


def test_no_log_line_carries_a_token(
    read_token: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Not a good one, a spoilt one, nor one sent under another scheme (ninja's own bearer logs
    that header in DEBUG)."""
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    secret = read_token.split("_", 2)[2]  # all after the key id: the secret may hold "_"
    for header in (f"Bearer {read_token}", f"Token {read_token}", f"Bearer {read_token}x", read_token):
        Client().get(SITES, headers={"Authorization": header})
    assert caplog.records
    assert secret not in caplog.text
