"""The zone each operator sees and types times in: their choice (kept in the session), else the
PREFETCH_DISPLAY_TIME_ZONE setting. `DisplayZoneMiddleware` activates it for every request."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from prefetch_ui.planning.local_time import zone_named

SESSION_KEY = "display_zone"
COMMON_ZONES = (
    "UTC",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
)


def display_zone() -> ZoneInfo:
    """The zone this request shows and reads times in: the operator's choice, else the setting."""
    current = timezone.get_current_timezone()
    return current if isinstance(current, ZoneInfo) else ZoneInfo(settings.PREFETCH_DISPLAY_TIME_ZONE)


def zone_choices(*extra: str) -> list[str]:
    """The zones offered to pick from: the active one first, then common ones, then `extra` known ones."""
    names = [display_zone().key]
    for name in (*COMMON_ZONES, *extra):
        if name not in names and zone_named(name) is not None:
            names.append(name)
    return names


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
