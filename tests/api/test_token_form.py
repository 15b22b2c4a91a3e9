"""The tokens page's form is sent once: a reload of the page that showed a new token's secret (the
browser sends the form again) makes no second token, and says which token that form made."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.api.models import ApiToken
from prefetch_ui.api.services import TokenAlreadyMade, token_create

pytestmark = pytest.mark.django_db

FORM = "f" * 24


def _form_token(page: str) -> str:
    match = re.search(r'name="form_token" value="([0-9a-f]{24})"', page)
    assert match is not None, "the form carries no token"
    return match.group(1)


def test_a_reload_of_the_created_page_makes_no_second_token_and_says_which_it_made(
    viewer_client: Client,
) -> None:
    page = viewer_client.get(reverse("api-tokens")).content.decode()
    data = {"name": "grafana", "scopes": ["read"], "expires_in_days": "30", "form_token": _form_token(page)}
    first = viewer_client.post(reverse("api-tokens"), data)
    assert first.status_code == 201 and 'data-testid="token-secret"' in first.content.decode()
    again = viewer_client.post(reverse("api-tokens"), data)  # the browser's reload
    body = again.content.decode()
    assert again.status_code == 200
    assert ApiToken.objects.count() == 1
    made = ApiToken.objects.get()
    assert "This form was sent before" in body and made.key_id in body
    assert 'data-testid="token-secret"' not in body  # the secret is never shown twice
    # A new form for the next token, with a token of its own.
    assert _form_token(body) != data["form_token"]


def test_an_altered_form_token_only_loses_the_reload_guard(viewer_client: Client) -> None:
    data = {"name": "script", "scopes": ["read"], "expires_in_days": "7", "form_token": "not-a-token"}
    assert viewer_client.post(reverse("api-tokens"), data).status_code == 201
    assert ApiToken.objects.get().form_token == ""


def test_the_service_refuses_a_second_token_from_one_form(viewer: User) -> None:
    token_create(user=viewer, name="one", scopes=["read"], expires_in_days=7, form_token=FORM)
    with pytest.raises(TokenAlreadyMade) as made:
        token_create(user=viewer, name="two", scopes=["read"], expires_in_days=7, form_token=FORM)
    assert made.value.token.name == "one"
    assert ApiToken.objects.count() == 1
