"""/api/: the tokens page (a login needed) and the API itself (/api/v1/, a token needed)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect, JsonResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.utils.cache import patch_cache_control

from . import v1, views

View = Callable[..., HttpResponseBase]


def _api_view(view: View) -> View:
    """One of ninja's views, past the login-required middleware (the API takes a token instead of a
    session; the schema and docs page are public, as a client generator needs them), with a wrong
    method refused in the API's JSON shape rather than ninja's plain text. Its answers are a
    token owner's, as a page is a logged-in user's: `private, no-store` (core.cache_control), which
    the middleware adds only for a session's user."""

    @wraps(view)
    def answered(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        json = response.get("Content-Type", "").startswith("application/json")
        if response.status_code == 405 and not json:
            refusal = {"code": "method_not_allowed", "message": f"{request.method} is not allowed here."}
            allow = response["Allow"]
            response = JsonResponse({**refusal, "field": None}, status=405, headers={"Allow": allow})
        patch_cache_control(response, private=True, no_store=True)
        return response

    return login_not_required(answered)


def _api_root(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    """/api/v1/ itself: the docs page."""
    return HttpResponseRedirect(f"{request.path}docs")


def _api_patterns(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _api_view(_api_root if pattern.name == "api-root" else pattern.callback)
    return patterns


_v1_patterns, _v1_app, _v1_namespace = v1.api.urls

urlpatterns = [
    path("tokens/", views.token_page, name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_view, name="api-token-revoke"),
    path("v1/", include((_api_patterns(_v1_patterns), _v1_app), namespace=_v1_namespace)),
    re_path(r"^v1/(?P<rest>.*)$", views.api_not_found),
]
