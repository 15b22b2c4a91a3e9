"""Every page needs a login, and an htmx request whose session has ended is sent to log in as a
whole page, back to the page it came from afterwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Django's, except for htmx requests (a poll, a button) once the session has ended: a 302 to
    the login page would be followed by htmx, and the login form swapped into the polled region
    as if it were its content. They get `HX-Redirect` to the login page instead, with `next` the
    page the operator is on (not the fragment's URL), so the whole page goes there and comes back."""

    # django-stubs types Django's answer as HttpResponseRedirect; HX-Redirect's is a sibling class.
    def handle_no_permission(  # type: ignore[override]
        self, request: HttpRequest, view_func: Callable[..., Any]
    ) -> HttpResponseBase:
        htmx = getattr(request, "htmx", None)
        if not htmx:
            return super().handle_no_permission(request, view_func)
        back = htmx.current_url_abs_path or request.get_full_path()
        login = redirect_to_login(
            back, resolve_url(self.get_login_url(view_func)), self.get_redirect_field_name(view_func)
        )
        return HttpResponseClientRedirect(login["Location"])
