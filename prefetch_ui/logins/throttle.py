"""Failed logins, throttled per account and per address by django-axes (settings: AXES_*).

Axes counts failures in the database (so every web process on every machine counts together) and
refuses a login, even with the right password, once `PREFETCH_LOGIN_FAILURE_LIMIT` failures within
`PREFETCH_LOGIN_COOLOFF_MINUTES` were for that account (from any address) or from that address (for
any account). This module gives axes the client's address, the page a refused person sees, and a
narrower reset on success than axes' own.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in
from django.db.models import Max, Q
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

# Too Many Requests: the login form again, saying why and until when (not a bare error page).
LOCKED_OUT_STATUS = 429


def client_ip_address(request: HttpRequest) -> str | None:
    """The address failed logins are counted against (AXES_CLIENT_IP_CALLABLE).

    The peer's address (REMOTE_ADDR), unless `PREFETCH_CLIENT_IP_HEADER` names a header that the
    proxies in front of the dashboard set or append to (`X-Real-IP`, `X-Forwarded-For`): then the
    address `PREFETCH_TRUSTED_PROXY_COUNT` places from its right end, the one the outermost trusted
    proxy saw; anything left of it came from the client and proves nothing. Behind a proxy without
    that setting, every login comes from the proxy's address and one person's typos lock everyone.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    header = settings.PREFETCH_CLIENT_IP_HEADER
    if not header:
        return peer
    entries = [entry.strip() for entry in request.headers.get(header, "").split(",") if entry.strip()]
    if not entries:
        return peer
    candidate = entries[-min(settings.PREFETCH_TRUSTED_PROXY_COUNT, len(entries))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer  # not an address: the proxy is not the one setting this header


def lockout_minutes_left(request: HttpRequest, credentials: dict[str, Any] | None) -> int:
    """Whole minutes (at least 1) until the failures that lock this account or address are too old to
    count: the latest of them plus the cool-off. An upper bound when several add up; exact otherwise,
    since failures during a lockout are not counted (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT)."""
    cool_off: timedelta = get_cool_off(request)
    now = timezone.now()
    latest: datetime | None = AccessAttempt.objects.filter(
        Q(username=get_client_username(request, credentials)) | Q(ip_address=client_ip_address(request)),
        attempt_time__gte=now - cool_off,
    ).aggregate(latest=Max("attempt_time"))["latest"]
    left = cool_off if latest is None else latest + cool_off - now
    return max(1, math.ceil(left.total_seconds() / 60))


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """What a refused login gets (AXES_LOCKOUT_CALLABLE): the login page, saying that it is refused
    and for how long, without saying whether the account or the address was the reason."""
    username = get_client_username(request, credentials) or ""
    next_url = request.POST.get("next", request.GET.get("next", ""))
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "next": next_url,
        "lockout_minutes": lockout_minutes_left(request, credentials),
        "password_reset": settings.PREFETCH_PASSWORD_RESET,
    }
    return render(request, "registration/login.html", context, status=LOCKED_OUT_STATUS)


@receiver(user_logged_in)
def forgive_own_failures(
    sender: object, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any
) -> None:
    """A successful login forgets this account's failures from this address: its owner's typos.

    Axes' own reset (AXES_RESET_ON_SUCCESS) would forget every failure of the account and every
    failure from the address: someone with an account of their own could then try passwords on
    others' accounts forever, logging in as themselves between tries to wipe the count."""
    address = None if request is None else client_ip_address(request)
    if address is None:
        return  # a test's force_login, or a login made outside a request: nothing to forgive
    AxesProxyHandler.reset_attempts(username=user.get_username(), ip_address=address)
