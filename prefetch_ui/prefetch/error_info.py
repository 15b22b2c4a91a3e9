"""ESA's ErrorInfo read into typed entries. Pure: no Django, no I/O.

ESA writes a job's ErrorInfo as a comma-separated list of entries of four kinds (InvalidUrl,
InvalidDomain, QuotaExcess, OtherErrors), each with its detail after a colon; the one example it
publishes is `invalid domain:test.com` (docs/esa-api.md#urls). The kind is read in either spelling
(`quota excess`, `QuotaExcess`) and in any case, since ESA's exact wording of the quota entries is
not published. Two quota entries are told apart by their detail, as the simulator writes them:

- `quota excess:1200 urls refused (the site's daily prefetch quota was used up)`: batches went out
  when the day's prefetch quota was spent; those URLs were not prefetched and are not retried;
- `quota excess:5 urls over the limit of 50000 urls a job keeps`: the job was created with more
  URLs than a job may hold; the rest were dropped at its creation.

Nothing is dropped: an entry of a kind this module does not know is kept, as ESA wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ErrorEntry", "ErrorKind", "error_info_entries"]


class ErrorKind(StrEnum):
    INVALID_URL = "invalid_url"
    INVALID_DOMAIN = "invalid_domain"
    # The site's daily prefetch quota refused URLs as their batches went out.
    QUOTA_REFUSED = "quota_refused"
    # URLs past what a job may hold, dropped when ESA created the job.
    OVER_JOB_LIMIT = "over_job_limit"
    OTHER = "other"  # ESA's OtherErrors
    UNKNOWN = "unknown"  # a kind ESA did not document: shown as it is


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    """One entry of a job's ErrorInfo: its kind, the entry as ESA wrote it, and what it counts."""

    kind: ErrorKind
    text: str  # the entry as ESA wrote it (without the separating comma)
    detail: str  # what follows the kind's colon ("" for a bare kind)
    urls: int | None = None  # the quota kinds: how many URLs (None: ESA did not say)
    limit: int | None = None  # OVER_JOB_LIMIT: the URLs a job keeps, when ESA says


# The kinds, by their name without spaces, underscores or case.
_KINDS = {
    "invalidurl": ErrorKind.INVALID_URL,
    "invaliddomain": ErrorKind.INVALID_DOMAIN,
    "quotaexcess": ErrorKind.QUOTA_REFUSED,
    "othererrors": ErrorKind.OTHER,
}
_KNOWN = "|".join(r"\s*".join(re.escape(part) for part in name) for name in _KINDS)
# A comma starts a new entry where a kind follows: a word or words and a colon (not a URL's
# `scheme://`), or a known kind standing alone. Any other comma belongs to the detail before it
# (a URL may hold commas).
_ENTRY_START = re.compile(
    rf",(?=\s*(?:[A-Za-z][A-Za-z _]*:(?!//)|(?:{_KNOWN})\s*(?:,|$)))", flags=re.IGNORECASE
)
_QUOTA_DETAIL = re.compile(
    r"^\s*(?P<urls>\d[\d,]*)\s+urls?\s+(?P<what>refused|over\s+the\s+limit)"
    r"(?:\s+of\s+(?P<limit>\d[\d,]*))?",
    flags=re.IGNORECASE,
)


def error_info_entries(error_info: str) -> list[ErrorEntry]:
    """The entries of a job's ErrorInfo, in ESA's order; every part of the text is in one of them."""
    if not error_info.strip():
        return []
    return [_entry(part) for part in _ENTRY_START.split(error_info)]


def _entry(text: str) -> ErrorEntry:
    head, colon, detail = text.partition(":")
    if colon and "//" in head:  # a URL, not a kind (a bare URL as an entry of its own)
        head, detail = text, ""
    kind = _KINDS.get(re.sub(r"[\s_]", "", head).lower(), ErrorKind.UNKNOWN)
    if kind != ErrorKind.QUOTA_REFUSED:
        return ErrorEntry(kind, text, detail.strip() if kind != ErrorKind.UNKNOWN else text.strip())
    found = _QUOTA_DETAIL.match(detail)
    if found is None:
        # `QuotaExcess` alone, or a detail in other words: ESA's QuotaExcess is the daily quota.
        return ErrorEntry(kind, text, detail.strip())
    urls = int(found["urls"].replace(",", ""))
    if found["what"].lower() == "refused":
        return ErrorEntry(kind, text, detail.strip(), urls=urls)
    limit = int(found["limit"].replace(",", "")) if found["limit"] else None
    return ErrorEntry(ErrorKind.OVER_JOB_LIMIT, text, detail.strip(), urls=urls, limit=limit)
