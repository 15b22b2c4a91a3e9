"""Wall-clock times typed by operators, in a named zone, turned into unambiguous UTC instants."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INPUT_FORMAT = "%Y-%m-%dT%H:%M"
# What a `datetime-local` input sends (seconds only when they are not zero), or the same typed with
# a space. The whole value must match: nothing after it is ignored.
_LOCAL_INPUT = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?")
_OFFSET_SUFFIX = re.compile(r"(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
# A plan typed a moment ago may start "now"; more than this in the past is a mistake.
PAST_START_GRACE = timedelta(minutes=1)


class LocalTimeError(ValueError):
    """A wall-clock time that does not name exactly one instant in its zone."""


def zone_named(name: str) -> ZoneInfo | None:
    """The zone called `name`, or None for a name this server does not know."""
    try:
        return ZoneInfo(name) if name and len(name) <= 64 else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_local_input(text: str, zone: ZoneInfo, *, label: str) -> datetime:
    """A `datetime-local` value typed in `zone`, as a UTC instant; LocalTimeError says what is wrong.

    The whole value is read: a time with anything after it, or with its own UTC offset, is refused
    rather than read by its first characters.
    """
    text = text.strip()
    if not text:
        raise LocalTimeError(f"{label} is required.")
    match = _LOCAL_INPUT.fullmatch(text)
    if match is None:
        if _LOCAL_INPUT.match(text) and _OFFSET_SUFFIX.search(text):
            raise LocalTimeError(
                f"{label} is not a date and time (YYYY-MM-DD HH:MM). You typed “{text[:40]}”, with "
                f"its own UTC offset: type the wall-clock time in {zone.key} without one."
            )
        raise LocalTimeError(f"{label} is not a date and time (YYYY-MM-DD HH:MM). You typed “{text[:40]}”.")
    date, clock, seconds = match.groups()
    try:
        wall_clock = datetime.strptime(f"{date}T{clock}{seconds or ':00'}", INPUT_FORMAT + ":%S")
    except ValueError:
        raise LocalTimeError(f"{label} is not a date and time that exists: “{text[:40]}”.") from None
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
    """The value of a `datetime-local` input showing `moment` in `zone` (seconds only if not zero)."""
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return local.strftime(INPUT_FORMAT + (":%S" if local.second else ""))


def past_start_error(start: datetime, *, now: datetime, shown_as: str) -> str:
    """Why a plan may not start at `start` (more than a minute ago), or "" when it may.

    One rule for every form that sets a start: ESA runs a plan whose start has passed at once,
    which is never what a start typed in the past meant.
    """
    if start >= now - PAST_START_GRACE:
        return ""
    return f"The start is in the past ({shown_as}); ESA would run it at once. Move it to the future."
