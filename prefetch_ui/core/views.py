"""The probe, and the pages that refuse a request: each says what was wrong with it."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_safe


@login_not_required
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness probe for load balancers and compose; deliberately touches neither the database nor Redis."""
    return JsonResponse({"status": "ok"})


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):.3g} MB"


def _refusal(exception: Exception) -> tuple[int, str]:
    """The status and the sentence that tell the sender what was wrong with a request Django refused.

    Our own refusals (`BadRequest`) say it themselves. Django's own suspicious requests get a
    sentence of their own, never the exception's text, which may hold more than the sender sent.
    """
    nothing = " Nothing was changed."
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        return 413, (
            f"The form sent more than {_megabytes(limit)}, more than the server reads from a form. A list "
            "of URLs that long goes in a .txt file (up to 10 MB), uploaded with the new-job form." + nothing
        )
    if isinstance(exception, TooManyFieldsSent):
        return 400, (
            f"The form sent more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} fields, more than any form "
            "here has." + nothing
        )
    if isinstance(exception, TooManyFilesSent):
        return 400, (
            f"The form sent more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES:,} files; a form here takes one."
            + nothing
        )
    if isinstance(exception, DisallowedHost):
        return 400, "This server does not answer to that host name." + nothing
    if isinstance(exception, BadRequest) and exception.args:
        return 400, str(exception)
    return 400, "The request could not be read." + nothing


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: what was wrong with the request (413 when it was too large), on a page."""
    status, reason = _refusal(exception)
    return render(request, "400.html", {"reason": reason}, status=status)


@requires_csrf_token
def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: the page says what was not found when a view said so (an unknown action, a site)."""
    message = exception.args[0] if exception.args else ""
    reason = message if isinstance(exception, Http404) and not isinstance(exception, Resolver404) else ""
    return render(request, "404.html", {"reason": reason if isinstance(reason, str) else ""}, status=404)
