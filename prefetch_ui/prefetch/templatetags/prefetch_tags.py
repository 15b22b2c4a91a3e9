"""Times shown in one clear zone, and small display helpers."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.conf import settings

from prefetch_ui.planning.local_time import zone_named
from prefetch_ui.prefetch.display_zone import display_zone
from prefetch_ui.prefetch.display_zone import zone_choices as display_zone_choices
from prefetch_ui.prefetch.plan_changes import PlanUpdateChanges

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
def plan_changes(changes: PlanUpdateChanges | None) -> str:
    """What an update of a plan changed, in words ("batch size 3 → 5"), times in the operator's zone."""
    return changes.text(local) if changes is not None else ""


@register.filter
def in_zone(moment: datetime | None, zone_name: str) -> str:
    """The time in the named zone (the builder's chosen one), with its UTC offset."""
    if moment is None:
        return "—"
    zone = zone_named(zone_name) or display_zone()
    return _with_offset(moment.astimezone(zone))


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
