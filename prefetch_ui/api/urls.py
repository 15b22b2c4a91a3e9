"""/api/: the tokens page (a login needed) and the API itself (/api/v1/, a token needed)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import (
    HttpRequest,
    HttpResponseBase,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.utils.cache import patch_cache_control

from . import service_account_views, v1, views
from .idempotency import idempotency_answer

View = Callable[..., HttpResponseBase]


def _api_view(view: View) -> View:
    """One of ninja's views, past the login-required middleware (the API takes a token instead of a
    session; the schema and docs page are public, as a client generator needs them), with a wrong
    method refused in the API's JSON shape rather than ninja's plain text. Its answers are a
    token owner's, as a page is a logged-in user's: `private, no-store` (core.cache_control), which
    the middleware adds only for a session's user."""

    @wraps(view)
    def answered(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            response = idempotency_answer(request, lambda: view(request, *args, **kwargs))
        except RequestDataTooBig:
            # In the API's shape, not the pages' 413 page (core.views); nothing was read or done.
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            refusal = {
                "code": "too_large",
                "message": f"The body is over {limit:,} bytes: send less at once.",
            }
            response = JsonResponse({**refusal, "field": None}, status=413)
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


def _methods_merged(views: list[View]) -> View:
    """One view for a path that several routers serve (a read in v1, a write in another router's
    module): ninja makes a URL pattern per router, and Django would send every method to the first,
    which answers 405 to the others'. Each router's view answers 405 without acting for a method it
    does not serve, so the first answer that is not a 405 is the one; if all are, a 405 allowing the
    methods of all."""

    def merged(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        allowed: list[str] = []
        for view in views:
            response = view(request, *args, **kwargs)
            if not isinstance(response, HttpResponseNotAllowed):
                return response
            allowed += [method.strip() for method in response["Allow"].split(",")]
        return HttpResponseNotAllowed(sorted(set(allowed)), content=b"Method not allowed")

    merged.csrf_exempt = True  # type: ignore[attr-defined]  # as ninja's views are: a token, no cookie
    return merged


def _api_patterns(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    first_of_route: dict[str, URLPattern] = {}
    views_of_route: dict[str, list[View]] = {}
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            route = str(pattern.pattern)
            first_of_route.setdefault(route, pattern)
            views_of_route.setdefault(route, []).append(pattern.callback)
    for route, first in first_of_route.items():
        views = views_of_route[route]
        # The later patterns of a route are never reached; they stay for their names (reverse()).
        callback = _methods_merged(views) if len(views) > 1 else views[0]
        first.callback = _api_view(_api_root if first.name == "api-root" else callback)
    return patterns


_v1_patterns, _v1_app, _v1_namespace = v1.api.urls

urlpatterns = [
    path("tokens/", views.token_page, name="api-tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_view, name="api-token-revoke"),
    path("service-accounts/", service_account_views.service_account_list_page, name="api-service-accounts"),
    path(
        "service-accounts/<int:account_id>/",
        service_account_views.service_account_page,
        name="api-service-account",
    ),
    re_path(
        r"^service-accounts/(?P<account_id>[0-9]{1,18})/(?P<action>disable|enable)/$",
        service_account_views.service_account_switch,
        name="api-service-account-switch",
    ),
    path(
        "service-accounts/<int:account_id>/tokens/<int:token_id>/revoke/",
        service_account_views.service_account_token_revoke_view,
        name="api-service-account-token-revoke",
    ),
    path("v1/", include((_api_patterns(_v1_patterns), _v1_app), namespace=_v1_namespace)),
    re_path(r"^v1/(?P<rest>.*)$", views.api_not_found),
]
