"""/api/: the tokens page (a login needed) and the API itself (/api/v1/, a token needed)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path

from . import v1, views


def _token_only(
    patterns: list[URLPattern | URLResolver],
) -> list[URLPattern | URLResolver]:
    """The API's views, past the login-required middleware: they take a token instead of a session
    (and the schema and docs page are public, as a client's generator needs them)."""
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            login_not_required(pattern.callback)
    return patterns


_v1_patterns, _v1_app, _v1_namespace = v1.api.urls

urlpatterns = [
    path("tokens/", views.token_page, name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_view, name="api-token-revoke"),
    path("v1/", include((_token_only(_v1_patterns), _v1_app), namespace=_v1_namespace)),
]
