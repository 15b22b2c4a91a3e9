"""The probe, and the pages that refuse a request: each says what was wrong with it (to htmx, in
a sentence of plain text, which static/js/app.js shows in the page's notice)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_safe

from prefetch_ui.web.htmx import asked_by_htmx, refusal

from .metrics_collector import metrics_exposition
from .readiness import readiness_checks

# Headers a reverse proxy adds: behind one, REMOTE_ADDR is the proxy's address, not the scraper's.
_FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


@login_not_required
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process is up and answers. Deliberately touches neither the database nor Redis,
    so that a dependency's outage never gets a healthy web process restarted."""
    return JsonResponse({"status": "ok"})


@login_not_required
@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, Redis, a worker and the sync are all fit, else 503 naming
    each failing check and why (see `readiness.py`)."""
    results = readiness_checks()
    failing = [f"{result.name}: {result.detail}" for result in results if not result.ok]
    body: dict[str, object] = {
        "status": "failing" if failing else "ok",
        "checks": {result.name: {"ok": result.ok, "detail": result.detail} for result in results},
    }
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=503 if failing else 200)


@login_not_required
@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics of the whole deployment, for an authorised scraper only (see `_scraper_allowed`)."""
    if not _scraper_allowed(request):
        return HttpResponseForbidden("Metrics need PREFETCH_METRICS_TOKEN or an allowed network.\n")
    body, content_type = metrics_exposition(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)


def _scraper_allowed(request: HttpRequest) -> bool:
    """The bearer token matches (compared in constant time), or the client connected directly from an
    allowed network. A request that came through a proxy is never let in by address: the address
    would be the proxy's, and a proxy on an allowed network would open the metrics to everyone."""
    token = settings.PREFETCH_METRICS_TOKEN
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    if (
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(supplied.strip().encode(), token.encode())
    ):
        return True
    if any(header in request.META for header in _FORWARDED_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.PREFETCH_METRICS_ALLOWED_NETWORKS
    )


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):.3g} MB"


def _why_refused(exception: Exception) -> tuple[int, str]:
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
    status, reason = _why_refused(exception)
    if asked_by_htmx(request):
        return refusal(reason, status=status)
    return render(request, "400.html", {"reason": reason}, status=status)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: a page that says this account may only read; to htmx, the refusal's own sentence."""
    if asked_by_htmx(request):
        said = exception.args[0] if isinstance(exception, PermissionDenied) and exception.args else ""
        reason = said if isinstance(said, str) and said else "This account may not do that."
        return refusal(f"{reason} Nothing was changed.", status=403)
    return render(request, "403.html", status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: to htmx, what to do about it (the page's token went stale when the
    session ended or the account logged in again); else Django's own page."""
    if asked_by_htmx(request):
        return refusal(
            "This page is out of date: the session it was opened in has ended (logged out, or logged "
            "in again elsewhere). Reload the page and try again. Nothing was changed.",
            status=403,
        )
    return django_csrf_failure(request, reason)


_NOTHING_HERE = (
    "There is no page at this address: the site, job or plan may have been deleted, or the sync "
    "has not seen it yet."
)


@requires_csrf_token
def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: the page says what was not found when a view said so (an unknown action, a site)."""
    message = exception.args[0] if exception.args else ""
    reason = message if isinstance(exception, Http404) and not isinstance(exception, Resolver404) else ""
    reason = reason if isinstance(reason, str) else ""
    if asked_by_htmx(request):
        return refusal(f"{reason} {_NOTHING_HERE}" if reason else _NOTHING_HERE, status=404)
    return render(request, "404.html", {"reason": reason}, status=404)
