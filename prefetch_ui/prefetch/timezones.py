"""Wall-clock times typed by operators, in a named zone, turned into unambiguous UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

INPUT_FORMAT = "%Y-%m-%dT%H:%M"
SESSION_KEY = "display_zone"


class LocalTimeError(ValueError):
    """A wall-clock time that does not name exactly one instant in its zone."""


def display_zone() -> ZoneInfo:
    """The zone this request shows and reads times in: the operator's choice, else the setting."""
    current = timezone.get_current_timezone()
    return current if isinstance(current, ZoneInfo) else ZoneInfo(settings.PREFETCH_DISPLAY_TIME_ZONE)


def zone_named(name: str) -> ZoneInfo | None:
    """The zone called `name`, or None for a name this server does not know."""
    try:
        return ZoneInfo(name) if name and len(name) <= 64 else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_local_input(text: str, zone: ZoneInfo, *, label: str) -> datetime:
    """A `datetime-local` value typed in `zone`, as a UTC instant; LocalTimeError says what is wrong."""
    text = text.strip()
    if not text:
        raise LocalTimeError(f"{label} is required.")
    try:
        wall_clock = datetime.strptime(text[:16], INPUT_FORMAT)
    except ValueError:
        raise LocalTimeError(f"{label} is not a date and time (YYYY-MM-DD HH:MM).") from None
    return local_to_utc(wall_clock, zone)


def local_to_utc(wall_clock: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall-clock time in `zone`.

    Refuses a time skipped by a daylight-saving change (it never happens there) and a time
    repeated by one (it happens twice), instead of silently picking an hour.
    """
    if wall_clock.tzinfo is not None:
        raise LocalTimeError("expected a wall-clock time without a zone")
    if not 1970 <= wall_clock.year <= 9000:
        raise LocalTimeError(
            f"{wall_clock:%Y-%m-%d %H:%M} is out of range: use a year between 1970 and 9000."
        )
    first = wall_clock.replace(tzinfo=zone, fold=0)
    second = wall_clock.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall_clock:
        raise LocalTimeError(
            f"{wall_clock:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip it (daylight saving)."
        )
    if first.utcoffset() != second.utcoffset():
        raise LocalTimeError(
            f"{wall_clock:%Y-%m-%d %H:%M} happens twice in {zone.key} (daylight saving ends); "
            "pick a time outside the repeated hour."
        )
    return first.astimezone(UTC)


def utc_to_local_input(moment: datetime | None, zone: ZoneInfo) -> str:
    """The value of a `datetime-local` input showing `moment` in `zone`."""
    return "" if moment is None else moment.astimezone(zone).strftime(INPUT_FORMAT)
