"""API tokens on the tokens page: the secret shown once and kept only as a hash, scopes never beyond
the user's own, revoked by their owner alone."""

from __future__ import annotations

import hashlib
import logging

import pytest
from django.contrib.auth.models import User
from django.test import Client

from prefetch_ui.api.models import ApiToken
from prefetch_ui.api.selectors import token_scopes
from prefetch_ui.api.services import TokenRefused, token_create
from prefetch_ui.web.permissions import OPERATORS_GROUP

pytestmark = pytest.mark.django_db

PAGE = "/api/tokens/"


def _create(client: Client, **fields: object) -> tuple[int, str]:
    form = {"name": "alertmanager", "scopes": ["read"], "expires_in_days": 30, **fields}
    response = client.post(PAGE, form)
    return response.status_code, response.content.decode()


def test_a_new_token_is_shown_once_and_kept_only_as_its_hash(
    operator_client: Client, operator: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, page = _create(operator_client, scopes=["read", "operate"])
    assert status == 201
    token = ApiToken.objects.get(user=operator)
    secret = page.split('data-testid="token-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith(f"pfu_{token.key_id}_")
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.scopes == ["read", "operate"]
    # Nowhere after: not in any column, the list page, a log line.
    # Everything after the key id (the secret may hold "_" itself: a split on it could keep a piece
    # short enough to turn up anywhere).
    secret_part = secret.removeprefix(f"pfu_{token.key_id}_")
    assert len(secret_part) >= 40
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert not any(secret_part in str(value) for value in row.values())
    later = operator_client.get(PAGE).content.decode()
    assert secret_part not in later
    assert "alertmanager" in later and token.key_id in later
    assert secret_part not in caplog.text


def test_the_created_tokens_repr_hides_the_secret(operator: User) -> None:
    created = token_create(user=operator, name="ci", scopes=["read"], expires_in_days=7)
    assert created.secret not in repr(created)


def test_a_scope_the_user_does_not_hold_is_refused(viewer_client: Client, viewer: User) -> None:
    status, page = _create(viewer_client, scopes=["read", "operate"])
    assert status == 400
    assert "You cannot give a token a scope you do not hold: operate." in page
    assert not ApiToken.objects.exists()
    with pytest.raises(TokenRefused) as refused:
        token_create(user=viewer, name="x", scopes=["incidents"], expires_in_days=7)
    assert refused.value.field == "scopes"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": ""}, "This field is required."),
        ({"scopes": []}, "This field is required."),
        ({"scopes": ["admin"]}, "Select a valid choice."),
        ({"expires_in_days": 3650}, "Select a valid choice."),
    ],
)
def test_bad_token_forms_are_refused(operator_client: Client, fields: dict[str, object], error: str) -> None:
    status, page = _create(operator_client, **fields)
    assert status == 400
    assert error in page
    assert not ApiToken.objects.exists()


def test_a_token_loses_the_scopes_its_owner_loses(operator: User) -> None:
    token = token_create(user=operator, name="ops", scopes=["read", "operate"], expires_in_days=7).token
    assert token_scopes(token=token) == {"read", "operate"}
    operator.groups.remove(operator.groups.get(name=OPERATORS_GROUP))
    fresh = ApiToken.objects.select_related("user").get(pk=token.pk)
    assert token_scopes(token=fresh) == {"read"}


def test_the_owner_revokes_a_token_and_no_one_else_can(
    operator_client: Client, viewer_client: Client, operator: User
) -> None:
    token = token_create(user=operator, name="ops", scopes=["read"], expires_in_days=7).token
    revoke = f"/api/tokens/{token.pk}/revoke/"
    assert viewer_client.post(revoke).status_code == 404
    assert operator_client.get(revoke).status_code == 405
    response = operator_client.post(revoke)
    assert (response.status_code, response["Location"]) == (302, PAGE)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert operator_client.post(revoke).status_code == 404  # already revoked
    assert "revoked" in operator_client.get(PAGE).content.decode()


def test_the_tokens_page_needs_a_login_and_is_linked_from_the_header(operator_client: Client) -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Client().post(PAGE, {"name": "x", "scopes": ["read"], "expires_in_days": 7}).status_code == 302
    home = operator_client.get("/").content.decode()
    assert f'href="{PAGE}"' in home
