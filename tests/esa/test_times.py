from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from prefetch_ui.esa import EsaTimeError, format_esa_time, parse_esa_time
from prefetch_ui.esa.times import to_epoch_ms

MOMENT = datetime(2024, 5, 31, 9, 10, 48, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-31T09:10:48Z", MOMENT),
        ("2024-05-31T17:10:48+08:00", MOMENT),
        ("2024-05-31T17:10:48.849+08:00", MOMENT.replace(microsecond=849000)),
        ("2024-05-31T17:10:48.849123456+0800", MOMENT.replace(microsecond=849123)),
        ("2024-05-31T04:10:48-05:00", MOMENT),
        ("2024-05-31 09:10:48z", MOMENT),
        ("2024-05-31T09:10Z", MOMENT.replace(second=0)),
        ("1717146648000", MOMENT),
        (1717146648000, MOMENT),
        (1717146648849.0, MOMENT.replace(microsecond=849000)),
    ],
)
def test_parses_every_shape_esa_uses(text: str | int | float, expected: datetime) -> None:
    parsed = parse_esa_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "bad", ["", "2024-05-31T09:10:48", "yesterday", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", True]
)
def test_refuses_values_without_a_zone_or_not_times(bad: object) -> None:
    with pytest.raises(EsaTimeError):
        parse_esa_time(bad)  # type: ignore[arg-type]


def test_refuses_naive_datetimes() -> None:
    with pytest.raises(EsaTimeError):
        parse_esa_time(datetime(2024, 1, 1))
    with pytest.raises(EsaTimeError):
        format_esa_time(datetime(2024, 1, 1))


def test_format_is_utc_whole_seconds_with_z() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert format_esa_time(datetime(2024, 6, 1, 8, 0, 0, 999999, tzinfo=shanghai)) == "2024-06-01T00:00:00Z"
    assert to_epoch_ms(MOMENT) == 1717146648000
