"""CSV downloads: cells a spreadsheet cannot run as formulas, times that state their offset, streamed.

A value that starts with `=`, `+`, `-`, `@`, a tab, a carriage return or a line feed is a formula
to Excel, LibreOffice and Google Sheets, even inside quotes; a target label or an ESA message is text
someone else chose, so such a text gets a leading `'` (OWASP's advice for CSV injection). A
spreadsheet may skip what comes before the `=` (spaces, a no-break space, a line break, a
zero-width character) and fold a look-alike into it (the full-width equals sign U+FF1D, the small
one U+FE66), so those count as the start too: the first character left after skipping them is
compared in its compatibility form (NFKC). Numbers are not texts: -5 stays -5.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from prefetch_ui.web.display_zone import display_zone

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
FORMULA_STARTS = frozenset("=+-@")
# Not white space to str.isspace(), but skipped as nothing by people's eyes and some spreadsheets.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")
# Excel reads a CSV as the machine's legacy code page unless it starts with a byte order mark.
UTF8_BOM = "\ufeff"


def csv_cell(value: object) -> str:
    """`value` as one CSV cell: safe to open in a spreadsheet, times in ISO 8601 with their offset."""
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime):  # before date: a datetime is a date to Python
        # The database's times are UTC; a naive one can only have come from there.
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(display_zone()).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if _runs_as_formula(text) else text


def _runs_as_formula(text: str) -> bool:
    if text.startswith(FORMULA_PREFIXES):
        return True
    first = next((char for char in text if not (char.isspace() or char in _INVISIBLE)), "")
    return bool(first) and unicodedata.normalize("NFKC", first)[:1] in FORMULA_STARTS


class _LineBuffer:
    """What csv.writer writes to: hands each line back instead of keeping it (Django's streaming recipe)."""

    def write(self, line: str) -> str:
        return line


def _lines(header: Sequence[str], rows: Iterable[Sequence[object]], zone: ZoneInfo) -> Iterator[str]:
    writer = csv.writer(_LineBuffer())
    # The body is read after the view has returned, when the middleware has put the operator's
    # zone away: each line is written in the zone of the request that asked for it.
    with timezone.override(zone):
        line = UTF8_BOM + writer.writerow([csv_cell(cell) for cell in header])
    yield line
    for row in rows:
        with timezone.override(zone):
            line = writer.writerow([csv_cell(cell) for cell in row])
        yield line


def csv_response(
    *, filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> StreamingHttpResponse:
    """A CSV download of `rows` under `header`, streamed: rows are read only as the client takes them."""
    response = StreamingHttpResponse(
        _lines(header, rows, display_zone()), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response
