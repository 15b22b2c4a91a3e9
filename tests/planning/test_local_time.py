"""Wall-clock times as operators type them: the whole value is read, and one rule for past starts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from prefetch_ui.planning.local_time import (
    LocalTimeError,
    parse_local_input,
    past_start_error,
    utc_to_local_input,
)

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2031-06-01T09:00", datetime(2031, 6, 1, 8, 0, tzinfo=UTC)),
        ("2031-06-01 09:00", datetime(2031, 6, 1, 8, 0, tzinfo=UTC)),
        ("  2031-06-01T09:00:30 ", datetime(2031, 6, 1, 8, 0, 30, tzinfo=UTC)),
    ],
)
def test_a_whole_local_time_is_read(typed: str, expected: datetime) -> None:
    assert parse_local_input(typed, LONDON, label="Start") == expected


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2031-06-01T09:00Z", "with its own UTC offset: type the wall-clock time in Europe/London"),
        ("2031-06-01T09:00+08:00", "with its own UTC offset"),
        ("2031-06-01T09:00 and then some", "is not a date and time (YYYY-MM-DD HH:MM)"),
        ("2031-06-01T09:0012", "is not a date and time (YYYY-MM-DD HH:MM)"),
        ("2031-06-31T09:00", "is not a date and time that exists"),
        ("2031-06-01T25:00", "is not a date and time that exists"),
    ],
)
def test_anything_more_or_less_is_refused_not_cut(typed: str, message: str) -> None:
    with pytest.raises(LocalTimeError, match=re.escape(message)):
        parse_local_input(typed, LONDON, label="Start")


def test_seconds_survive_the_round_trip_to_an_input() -> None:
    moment = datetime(2031, 6, 1, 8, 59, 59, tzinfo=UTC)
    assert utc_to_local_input(moment, LONDON) == "2031-06-01T09:59:59"
    assert parse_local_input(utc_to_local_input(moment, LONDON), LONDON, label="End") == moment
    assert utc_to_local_input(datetime(2031, 6, 1, 8, 0, tzinfo=UTC), LONDON) == "2031-06-01T09:00"


def test_a_start_more_than_a_minute_ago_is_refused() -> None:
    now = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)
    assert past_start_error(now - timedelta(seconds=59), now=now, shown_as="x") == ""
    assert "in the past (x)" in past_start_error(now - timedelta(minutes=2), now=now, shown_as="x")
