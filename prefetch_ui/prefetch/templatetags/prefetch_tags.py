"""Times shown in one clear zone, and small display helpers."""

from __future__ import annotations

from datetime import datetime

from django import template

from prefetch_ui.prefetch.timezones import display_zone, zone_named

register = template.Library()


@register.filter
def local(moment: datetime | None) -> str:
    """`2026-11-21 19:30:00` in the display zone; the zone is named once beside it on the page."""
    if moment is None:
        return "—"
    return moment.astimezone(display_zone()).strftime("%Y-%m-%d %H:%M:%S")


@register.filter
def in_zone(moment: datetime | None, zone_name: str) -> str:
    """`2026-11-21 19:30` in the named zone (the builder's chosen one)."""
    if moment is None:
        return "—"
    zone = zone_named(zone_name) or display_zone()
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


@register.simple_tag
def zone_label() -> str:
    """`Asia/Shanghai (UTC+08:00)`."""
    zone = display_zone()
    offset = datetime.now(zone).strftime("%z")
    return f"{zone.key} (UTC{offset[:3]}:{offset[3:]})"


@register.simple_tag
def zone_choices() -> list[str]:
    """The zones offered to pick from: the active one first, then common ones."""
    from prefetch_ui.prefetch.plan_builder import COMMON_ZONES

    current = display_zone().key
    return [current, *(name for name in COMMON_ZONES if name != current)]


@register.filter
def percent(part: int, whole: int) -> int:
    return min(100, round(100 * part / whole)) if whole else 0
