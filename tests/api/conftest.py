"""API tokens for the API tests, made by the service the tokens page calls."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from prefetch_ui.api.services import token_create

MakeToken = Callable[..., str]


@pytest.fixture
def make_token() -> MakeToken:
    """`make_token(user, scopes=["read"], days=30)`: a new token of `user`, as its owner gets it."""

    def make(user: User, scopes: list[str] | None = None, days: int = 30) -> str:
        created = token_create(user=user, name="test", scopes=scopes or ["read"], expires_in_days=days)
        return created.secret

    return make


@pytest.fixture
def read_token(viewer: User, make_token: MakeToken) -> str:
    """A viewer's token with the read scope."""
    return make_token(viewer)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
