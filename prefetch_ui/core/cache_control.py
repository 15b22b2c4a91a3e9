"""What a logged-in person is shown stays in that person's browser, and only for as long as it is shown."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control


class PrivateResponsesMiddleware:
    """`Cache-Control: private, no-store` on every response to a logged-in user.

    `private`: no shared cache (a proxy, a CDN such as ESA itself in front of the dashboard) may keep
    one person's page and hand it to another. `no-store`: every page shows live ESA state, operations
    and who did what; nothing is worth keeping on the disk of a shared computer, and the browser asks
    again rather than show a stale copy. Anonymous responses (the login page, the probes) are left to
    their views: Django's login view already says never to cache it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
