"""ESA time values: parse every shape the API is seen to return, format one unambiguous shape.

The API documentation shows `2024-06-03T16:00:00Z`, `2024-05-31T17:10:48+08:00` and
`2024-05-31T17:10:48.849+08:00` in responses, and millisecond epochs for job creation filters.
Everything is turned into a time-zone-aware UTC `datetime`; a value without an offset is refused
rather than guessed, because a guessed zone silently shifts a prefetch window by hours.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["EsaTimeError", "format_esa_time", "parse_esa_time", "to_epoch_ms"]

_ISO_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<offset>Z|z|[+-]\d{2}:?\d{2})$"
)


class EsaTimeError(ValueError):
    """A value that is not a time ESA would send or accept."""


def parse_esa_time(value: str | int | float | datetime) -> datetime:
    """Return `value` as an aware UTC datetime.

    Accepts ISO 8601 strings with `Z` or a numeric offset (optionally with a fraction of a
    second), integers or numeric strings of milliseconds since the epoch, and aware datetimes.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise EsaTimeError("naive datetime: a time zone is required")
        return value.astimezone(UTC)
    if isinstance(value, bool):
        raise EsaTimeError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return _from_epoch_ms(value)
    text = value.strip()
    if text.isdigit():
        return _from_epoch_ms(int(text))
    match = _ISO_RE.match(text)
    if match is None:
        raise EsaTimeError(f"not an ISO 8601 time with a time zone: {value!r}")
    clock = match["time"] if match["time"].count(":") == 2 else match["time"] + ":00"
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    offset = match["offset"]
    if offset in ("Z", "z"):
        offset = "+00:00"
    elif ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        parsed = datetime.fromisoformat(f"{match['date']}T{clock}.{fraction}{offset}")
    except ValueError as exc:
        raise EsaTimeError(f"not a valid time: {value!r} ({exc})") from None
    return parsed.astimezone(UTC)


def _from_epoch_ms(milliseconds: int | float) -> datetime:
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)
    except OverflowError:
        raise EsaTimeError(f"epoch milliseconds out of range: {milliseconds!r}") from None


def format_esa_time(moment: datetime) -> str:
    """Format an aware datetime as ESA expects it in requests: UTC, whole seconds, `Z`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EsaTimeError("naive datetime: a time zone is required")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as ListScheduledPreloadJobs takes its creation-time filter."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EsaTimeError("naive datetime: a time zone is required")
    return (moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
