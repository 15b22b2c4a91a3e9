"""CSV cells a spreadsheet opens as text, never as formulas; times with their offset; a streamed download."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from prefetch_ui.reviews.csv_export import FORMULA_PREFIXES, csv_cell, csv_response


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil")', "+1+2", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"],
)
def test_a_text_that_a_spreadsheet_would_run_as_a_formula_is_neutralised(text: str) -> None:
    assert text.startswith(FORMULA_PREFIXES)
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize(
    "text",
    [
        " =1+2",
        "\n=1+2",
        "\xa0=1+2",  # a no-break space
        "\u3000@SUM(A1)",  # an ideographic space
        "\u200b=1+2",  # a zero-width space
        "\ufeff+1",  # a byte order mark
        "\uff1d1+1",  # the full-width equals sign
        "\ufe661+1",  # the small equals sign
        "\uff0b1",  # the full-width plus sign
        "\uff0d1",  # the full-width hyphen-minus
        "\uff20SUM(A1)",  # the full-width commercial at
        " \n\xa0\uff1dcmd",
    ],
)
def test_what_a_spreadsheet_may_skip_or_fold_before_a_formula_is_neutralised_too(text: str) -> None:
    assert csv_cell(text) == "'" + text


def test_a_formula_character_inside_a_text_is_left_alone() -> None:
    assert csv_cell("spring = sale") == "spring = sale"
    assert csv_cell("a-b@c+d") == "a-b@c+d"
    assert csv_cell("") == ""
    assert csv_cell("   ") == "   "
    assert csv_cell(" spring sale") == " spring sale"
    assert csv_cell("\uff21") == "\uff21"  # a full-width letter is no formula


def test_numbers_stay_numbers_even_when_negative() -> None:
    assert csv_cell(-5) == "-5"
    assert csv_cell(-2.5) == "-2.5"
    assert csv_cell(Decimal("-0.10")) == "-0.10"
    assert csv_cell(0) == "0"


def test_none_is_empty_and_a_bool_is_yes_or_no() -> None:
    assert csv_cell(None) == ""
    assert csv_cell(True) == "yes"
    assert csv_cell(False) == "no"


def test_a_time_is_iso_8601_in_the_display_zone_with_its_offset() -> None:
    moment = datetime(2026, 12, 4, 9, 0, 0, 123456, tzinfo=UTC)
    with timezone.override(ZoneInfo("Asia/Shanghai")):
        assert csv_cell(moment) == "2026-12-04T17:00:00+08:00"
    with timezone.override(ZoneInfo("America/New_York")):
        assert csv_cell(moment) == "2026-12-04T04:00:00-05:00"
    assert datetime.fromisoformat(csv_cell(moment)) == moment.replace(microsecond=0)


def test_a_date_is_iso_8601() -> None:
    assert csv_cell(date(2026, 12, 4)) == "2026-12-04"


def test_anything_else_is_its_text_neutralised_too() -> None:
    class Named:
        def __str__(self) -> str:
            return "=cmd"

    assert csv_cell(Named()) == "'=cmd"


def _read(response: StreamingHttpResponse) -> tuple[str, list[list[str]]]:
    body = b"".join(response).decode("utf-8")
    return body, list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def test_the_download_is_a_streamed_utf8_csv_attachment_that_excel_reads() -> None:
    rows: list[list[object]] = [["Frühling, “sale”", -3], ["@evil", None]]
    response = csv_response(filename="audit-20261204-1700.csv", header=["Name", "=Total"], rows=iter(rows))
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="audit-20261204-1700.csv"'
    body, lines = _read(response)
    assert body.startswith("\ufeff")  # the byte order mark: Excel then reads UTF-8
    assert lines == [["Name", "'=Total"], ["Frühling, “sale”", "-3"], ["'@evil", ""]]


def test_times_keep_the_asking_request_s_zone_when_the_body_is_read_after_the_view_returned() -> None:
    with timezone.override(ZoneInfo("Asia/Shanghai")):
        response = csv_response(
            filename="t.csv", header=["When"], rows=[[datetime(2026, 12, 4, 9, 0, tzinfo=UTC)]]
        )
    # The display-zone middleware has deactivated the zone by the time the server streams the body.
    _, rows = _read(response)
    assert rows == [["When"], ["2026-12-04T17:00:00+08:00"]]
