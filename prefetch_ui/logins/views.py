"""The login page, and password reset only when there is a mail server to send its link."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

type View = Callable[..., HttpResponseBase]


class LoginView(auth_views.LoginView):
    """Django's login view; its page links to password reset when that is on."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**kwargs) | {"password_reset": settings.PREFETCH_PASSWORD_RESET}


def only_with_email(view: View) -> View:
    """The view when password reset is on (PREFETCH_PASSWORD_RESET: DJANGO_EMAIL_HOST is set), else 404:
    without e-mail the link could never arrive, and the pages would only promise that it will."""

    @wraps(view)  # keeps login_not_required and the other markers of Django's view
    def view_if_email(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.PREFETCH_PASSWORD_RESET:
            raise Http404("Password reset is off: no e-mail server is configured.")
        return view(request, *args, **kwargs)

    return view_if_email
