"""Each operator sees and types times in the zone they chose (kept in their session)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .timezones import SESSION_KEY, zone_named


class DisplayZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.session.get(SESSION_KEY, "") if hasattr(request, "session") else ""
        zone = zone_named(str(chosen)) or zone_named(settings.PREFETCH_DISPLAY_TIME_ZONE)
        if zone is not None:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
