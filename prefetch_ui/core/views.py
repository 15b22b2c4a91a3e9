"""The probe, and the pages that refuse a request: each says what was wrong with it."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_safe

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
