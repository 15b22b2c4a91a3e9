"""What a job's ErrorInfo means for an operator, in words, with what to do: read beside the raw
ErrorInfo in the job page's facts (the entries: prefetch/error_info.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from prefetch_ui.planning.quotas import quota_day
from prefetch_ui.web.template_tags import local

from ..error_info import ErrorEntry, ErrorKind, error_info_entries
from ..models import Job
from ..services.site_limits import quota_zone


def quota_renews_at(*, now: datetime | None = None) -> datetime:
    """The next midnight in the quota's zone (PREFETCH_ESA_QUOTA_TIME_ZONE) after `now`."""
    return quota_day(now or timezone.now(), quota_zone())[1]


@dataclass(frozen=True, slots=True)
class ErrorExplanation:
    """One thing the job's ErrorInfo says, in words an operator acts on."""

    kind: ErrorKind
    text: str


def job_error_explanations(*, job: Job, now: datetime | None = None) -> list[ErrorExplanation]:
    """The entries of the job's ErrorInfo that mean something to do, explained (quota refusals,
    URLs over a job's limit, URLs not on the site). Other entries get none: the page shows the
    ErrorInfo itself beside these, as ESA wrote it, so nothing is hidden."""
    return error_explanations(error_info_entries(job.error_info), now=now)


def error_explanations(entries: list[ErrorEntry], *, now: datetime | None = None) -> list[ErrorExplanation]:
    """`job_error_explanations` for entries already read: one sentence or two per kind present."""
    by_kind: dict[ErrorKind, list[ErrorEntry]] = {}
    for entry in entries:
        by_kind.setdefault(entry.kind, []).append(entry)
    explanations: list[ErrorExplanation] = []
    if refused := by_kind.get(ErrorKind.QUOTA_REFUSED):
        explanations.append(ErrorExplanation(ErrorKind.QUOTA_REFUSED, _quota_refused(refused, now=now)))
    if over := by_kind.get(ErrorKind.OVER_JOB_LIMIT):
        explanations.append(ErrorExplanation(ErrorKind.OVER_JOB_LIMIT, _over_job_limit(over)))
    if domains := by_kind.get(ErrorKind.INVALID_DOMAIN):
        hosts = ", ".join(entry.detail for entry in domains if entry.detail)
        explanations.append(
            ErrorExplanation(
                ErrorKind.INVALID_DOMAIN,
                f"URLs on {hosts or 'other domains'} are not on this site and were not prefetched: "
                "ESA prefetches only URLs of the site's own domain and its subdomains. "
                "Create a job for them on their own site.",
            )
        )
    if bad_urls := by_kind.get(ErrorKind.INVALID_URL):
        one = len(bad_urls) == 1
        explanations.append(
            ErrorExplanation(
                ErrorKind.INVALID_URL,
                f"{_count(len(bad_urls), 'URL')} ESA could not read {'was' if one else 'were'} not "
                f"prefetched: check how {'it is' if one else 'they are'} written (non-ASCII characters "
                "percent-encoded).",
            )
        )
    return explanations


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _known_total(entries: list[ErrorEntry]) -> int | None:
    counts = [entry.urls for entry in entries]
    return None if any(count is None for count in counts) else sum(count or 0 for count in counts)


def _quota_refused(entries: list[ErrorEntry], *, now: datetime | None) -> str:
    total = _known_total(entries)
    how_many = "some" if total is None else f"{total:,}"
    zone = quota_zone()
    return (
        f"ESA refused {how_many} of this job's URLs because the site's daily prefetch quota was used up "
        "when their batches went out. They are not retried: the quota renews at midnight "
        f"({zone.key}; next at {local(quota_renews_at(now=now))}). To send them, reset the job after "
        "that (a reset sends all of its URLs again), with its plans spread so that each day's "
        "batches stay within the quota."
    )


def _over_job_limit(entries: list[ErrorEntry]) -> str:
    total = _known_total(entries)
    limits = {entry.limit for entry in entries if entry.limit is not None}
    limit = f"the limit of {next(iter(limits)):,} URLs" if len(limits) == 1 else "the limit of URLs"
    if total is None:
        return (
            f"Some URLs were over {limit} a job keeps and were dropped when ESA created the job: "
            "create another job for them."
        )
    return (
        f"{_count(total, 'URL')} {'was' if total == 1 else 'were'} over {limit} a job keeps and "
        f"{'was' if total == 1 else 'were'} dropped when ESA created the job: create another job for "
        f"{'it' if total == 1 else 'them'}."
    )
