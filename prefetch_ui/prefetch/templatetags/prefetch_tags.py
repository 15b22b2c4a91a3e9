"""Times shown in one clear zone, and small display helpers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.conf import settings

register = template.Library()


def display_zone() -> ZoneInfo:
    return ZoneInfo(settings.PREFETCH_DISPLAY_TIME_ZONE)


@register.filter
def local(moment: datetime | None) -> str:
    """`2026-11-21 19:30:00` in the display zone; the zone is named once beside it on the page."""
    if moment is None:
        return "—"
    return moment.astimezone(display_zone()).strftime("%Y-%m-%d %H:%M:%S")


@register.simple_tag
def zone_label() -> str:
    """`Asia/Shanghai (UTC+08:00)`."""
    zone = display_zone()
    offset = datetime.now(zone).strftime("%z")
    return f"{zone.key} (UTC{offset[:3]}:{offset[3:]})"


@register.filter
def percent(part: int, whole: int) -> int:
    return min(100, round(100 * part / whole)) if whole else 0
