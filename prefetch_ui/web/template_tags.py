"""The template tags every app's templates use: times shown in one clear zone, and how often a
polled element asks. Registered as the `web` library in settings.TEMPLATES (OPTIONS `libraries`),
so `{% load web %}` finds it although prefetch_ui.web is no app."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.conf import settings

from prefetch_ui.planning.local_time import zone_named

from .display_zone import display_zone
from .display_zone import zone_choices as display_zone_choices

register = template.Library()


def _with_offset(moment: datetime) -> str:
    """`2031-06-01 09:00:00 +01:00`: a time that states its own offset is right across DST changes."""
    offset = moment.strftime("%z")
    return moment.strftime("%Y-%m-%d %H:%M:%S ") + f"{offset[:3]}:{offset[3:]}"


@register.filter
def local(moment: datetime | None) -> str:
    """The time in the operator's zone (named once on the page), with its UTC offset."""
    if moment is None:
        return "—"
    return _with_offset(moment.astimezone(display_zone()))


@register.filter
def in_zone(moment: datetime | None, zone_name: str) -> str:
    """The time in the named zone (the builder's chosen one), with its UTC offset."""
    if moment is None:
        return "—"
    zone = zone_named(zone_name) or display_zone()
    return _with_offset(moment.astimezone(zone))


@register.filter
def thousands(number: int | None) -> str:
    """`12,000`: a count of URLs read at a glance (no locale: the pages are in English)."""
    if number is None:
        return "—"
    return f"{number:,}"


@register.simple_tag
def zone_label() -> str:
    """`Asia/Shanghai`: the zone's name; each time beside it carries its own UTC offset (DST-proof)."""
    return display_zone().key


@register.simple_tag
def zone_choices() -> list[str]:
    """The zones offered to pick from: the active one first, then common ones."""
    return display_zone_choices()


@register.simple_tag
def poll_every(seconds: int) -> str:
    """A polled element's htmx trigger: every `seconds`, never under PREFETCH_POLL_MIN_SECONDS
    (the server decides how often pages poll), and at once on `poll-now`, which static/js/app.js
    sends when a hidden tab, whose polls it holds back, is shown again. Mark the element
    `data-poll` for that."""
    return f"every {max(seconds, settings.PREFETCH_POLL_MIN_SECONDS)}s, poll-now"
