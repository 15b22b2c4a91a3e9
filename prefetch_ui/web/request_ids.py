"""Ids and versions read from a request, written once: checked before they are parsed.

An id in an address, a form or a poll is text anyone can send. Only ASCII digits count ("²" and
"١٢٣" are digits to `str.isdigit()`, and `int()` refuses or misreads them), and the length is checked
first: `int()` refuses more than 4,300 digits with a ValueError (Python's guard against slow
parsing), which would otherwise surface as a 500. Eighteen digits fit every id and version we store
(PostgreSQL's bigint holds 19)."""

from __future__ import annotations

ID_MAX_DIGITS = 18


def id_number(raw: str, *, max_digits: int = ID_MAX_DIGITS) -> int | None:
    """`raw` as a whole number if it is one of at most `max_digits` ASCII digits; None otherwise."""
    if len(raw) > max_digits or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)
