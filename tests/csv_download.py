"""A CSV download (a streamed response) read as a spreadsheet would: its header, and a dict a row."""

from __future__ import annotations

import csv
import io

from django.http import StreamingHttpResponse


def csv_table(response: object) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows (keyed by it) of a CSV download, its byte-order mark dropped."""
    assert isinstance(response, StreamingHttpResponse), "a CSV download is streamed"
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[arg-type]
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def csv_rows(response: object) -> list[dict[str, str]]:
    """The rows of a CSV download, keyed by its header."""
    return csv_table(response)[1]
