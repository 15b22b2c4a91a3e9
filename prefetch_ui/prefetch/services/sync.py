"""The periodic sync of the mirror: which of ESA's sites, jobs and plans a cycle reads, within the
call budget; what it reads is written by `mirror_writes`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from prefetch_ui.esa import (
    EsaClient,
    EsaError,
    EsaNotFoundError,
    EsaThrottledError,
    EsaTimeError,
    EsaTransportError,
    Page,
)
from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.esa import Site as EsaSite

from ..models import UNFINISHED_PLAN_STATUSES, Job, Plan, Site, SiteLimits
from .freshness import site_jobs_read
from .mirror_rows import UnstorableValueError, mirror_basis
from .mirror_writes import job_forget, job_plans_replace, jobs_write, site_error_write, sites_write
from .site_limits import (
    LIMITS_READ_CALLS,
    preload_charged,
    preload_use_count,
    site_limits_due,
    site_limits_read,
)

logger = logging.getLogger(__name__)


# What a sync of one site may meet that concerns that site alone (a permission refused on it, an
# answer we cannot read); anything that says ESA itself is out of reach stops the whole cycle.
_ESA_WIDE_ERRORS = (EsaTransportError, EsaThrottledError)


@dataclass(slots=True)
class SyncReport:
    """What one sync cycle did, and how many ESA calls it took."""

    esa_calls: int = 0
    sites: int = 0
    jobs: int = 0
    jobs_removed: int = 0
    plan_listings: int = 0
    site_errors: int = 0
    # Sites left out of this cycle while an incident's fan-out works on them.
    sites_paused: int = 0
    # Jobs whose plans were due for a read (never read, or settled and due for the periodic
    # re-read) and were left for the next cycles: the backlog this cycle had no allowance for.
    backlog_left: int = 0
    # Sites whose limits (quotas, pause) were read this cycle, and those due but left for later.
    limits_read: int = 0
    limits_left: int = 0


class _Backlog:
    """How many plan listings of the backlog (jobs never read, settled jobs due for their re-read)
    one cycle may still make: `PREFETCH_SYNC_BACKLOG_SECONDS` of the call budget. What must be read
    (jobs that can change, a held site) is never counted against it."""

    def __init__(self) -> None:
        per_second = settings.PREFETCH_ESA_CALLS_PER_SECOND
        self.left = (
            max(1, int(per_second * settings.PREFETCH_SYNC_BACKLOG_SECONDS)) if per_second > 0 else math.inf
        )

    def take(self, wanted: int) -> int:
        granted = int(min(wanted, self.left))
        self.left -= granted
        return granted

    def take_all(self, wanted: int) -> bool:
        """Take `wanted` calls if all are left, else none."""
        if self.left < wanted:
            return False
        self.left -= wanted
        return True


def _every_page[T](fetch: Callable[[int], Page[T]], report: SyncReport) -> tuple[list[T], int]:
    """All items of a paged listing, and ESA's total; each page read counts as an ESA call.

    Stops at ESA's total rather than at the arithmetic of page sizes, so a listing that shifted
    between reads shows up as items != total (duplicates) and the caller can tell.
    """
    items: list[T] = []
    number = 1
    while True:
        page = fetch(number)
        report.esa_calls += 1
        items += page.items
        if not page.items or len(items) >= page.total_count:
            return items, page.total_count
        number += 1


def esa_sync(
    *,
    client: EsaClient,
    now: datetime | None = None,
    watched: Callable[[Site], bool] = lambda site: False,
    paused: Callable[[Site], bool] = lambda site: False,
) -> SyncReport:
    """One cycle of the mirror: all sites, all their job pages, the plans of jobs that may change.

    A job's plans are re-read when it has an unfinished plan, when ESA's plan count differs from
    ours, when its progress moved, or when they were last read more than
    `PREFETCH_SETTLED_JOB_RESYNC` seconds ago; so a cycle costs sites + job pages + active jobs.
    A site whose own calls fail (a permission refused, an answer we cannot read) keeps the error
    on its row for the sites page, and the cycle goes on with the other sites. On a `watched` site
    (one under a hold) every job's plans are read, settled or not: a plan started in the console
    changes no count we could notice.

    The backlog is spread (`_Backlog`): the plans of jobs never read (a first mirror) and the
    periodic re-reads of settled jobs take at most `PREFETCH_SYNC_BACKLOG_SECONDS` of the budget
    per cycle, the re-reads of a site at most about twice its share of one cycle (its settled jobs
    over `PREFETCH_SETTLED_JOB_RESYNC`), oldest first; the rest waits for the next cycles. A
    `paused` site (an incident's fan-out is working on it, and reads its plans itself) is left out
    of the cycle: the incident's calls have the budget, and its writes the site's rows. A site's
    limits (`site_limits`: quotas, pause) are read every `PREFETCH_SYNC_LIMITS_PERIOD` with what
    the backlog's allowance has left, and its prefetch quota used today is counted as its jobs are.
    """
    now = now or timezone.now()
    report = SyncReport()
    backlog = _Backlog()
    esa_sites: list[EsaSite]
    esa_sites, total = _every_page(
        lambda number: client.list_sites(page_number=number, page_size=500), report
    )
    sites_write(esa_sites=esa_sites, complete=len(esa_sites) == total, now=now)
    report.sites = len(esa_sites)
    read: list[int] = []
    limits = {row.site_id: row for row in SiteLimits.objects.all()}
    limits_due: list[Site] = []
    try:
        for site in Site.objects.all():
            if paused(site):
                report.sites_paused += 1
                continue
            if site_limits_due(limits=limits.get(site.pk), now=now):
                limits_due.append(site)
            try:
                _sync_site_jobs(
                    client=client,
                    site=site,
                    now=now,
                    report=report,
                    watched=watched(site),
                    backlog=backlog,
                    limits=limits.get(site.pk),
                )
            except _ESA_WIDE_ERRORS:
                raise
            except (EsaError, EsaTimeError, UnstorableValueError) as error:
                report.site_errors += 1
                logger.warning("ESA sync of site %s (%s) failed: %s", site.esa_id, site.name, error)
                site_error_write(site=site, error=_describe(error)[:2000], now=now)
            else:
                site_error_write(site=site, error="", now=now)
                read.append(site.pk)
        # Limits change rarely: they take what the backlog's allowance has left after the plans,
        # the longest unread first.
        limits_due.sort(key=lambda site: _limits_read_last(limits.get(site.pk)))
        for site in limits_due:
            if backlog.take_all(LIMITS_READ_CALLS):
                site_limits_read(client=client, site=site, now=now)
                report.esa_calls += LIMITS_READ_CALLS
                report.limits_read += 1
            else:
                report.limits_left += 1
    finally:
        site_jobs_read(site_ids=read, at=now)  # also those read before a cycle cut short
    return report


def _limits_read_last(limits: SiteLimits | None) -> datetime:
    """When a site's limits were last read or refused (the oldest moment when never)."""
    times = (limits.read_at, limits.read_error_at) if limits is not None else ()
    return max((at for at in times if at is not None), default=datetime.min.replace(tzinfo=UTC))


def _describe(error: Exception) -> str:
    """What the sites page says about a failed site sync: ESA's code, message and RequestId."""
    if isinstance(error, EsaTimeError):
        return f"ESA sent a time this dashboard cannot read: {error}"
    if isinstance(error, UnstorableValueError):
        return f"{error}; this dashboard cannot store it"
    code = getattr(error, "code", "") or type(error).__name__
    request_id = getattr(error, "request_id", "")
    message = getattr(error, "message", str(error))
    return f"{code}: {message}" + (f" (RequestId {request_id})" if request_id else "")


def _sync_site_jobs(
    *,
    client: EsaClient,
    site: Site,
    now: datetime,
    report: SyncReport,
    watched: bool = False,
    backlog: _Backlog | None = None,
    limits: SiteLimits | None = None,
) -> None:
    asked = mirror_basis()
    listed, total = _every_page(
        lambda number: client.list_scheduled_preload_jobs(
            site_id=site.esa_id, page_number=number, page_size=settings.PREFETCH_SYNC_JOB_PAGE_SIZE
        ),
        report,
    )
    esa_jobs = {job.id: job for job in listed}
    # Deleting what ESA no longer lists is only safe when the listing was complete: a job
    # deleted in ESA between two page reads shifts the pages and hides another one.
    complete = len(esa_jobs) == total
    before, removed = jobs_write(site=site, jobs=esa_jobs.values(), now=now, basis=asked, complete=complete)
    known, new = preload_charged(listed=esa_jobs.values(), before=before)
    preload_use_count(site=site, limits=limits, known=known, new=new, now=now)
    report.jobs_removed += removed
    report.jobs += len(esa_jobs)
    unfinished = set(
        Plan.objects.filter(job__site=site, status__in=UNFINISHED_PLAN_STATUSES).values_list(
            "job__esa_id", flat=True
        )
    )
    due = _plans_due(esa_jobs.values(), before, unfinished=unfinished, watched=watched, now=now)
    backlog = backlog or _Backlog()
    never_read, settled = due.never_read, due.settled
    # Settled re-reads: about twice this site's share of one cycle, so that due ones catch up.
    settled_share = math.ceil(2 * len(esa_jobs) * settings.PREFETCH_SYNC_PERIOD / _resync_seconds())
    settled = settled[: min(settled_share, len(settled))]
    never_read = never_read[: backlog.take(len(never_read))]
    settled = settled[: backlog.take(len(settled))]
    report.backlog_left += len(due.never_read) - len(never_read) + len(due.settled) - len(settled)
    for job_esa_id in (*due.changing, *never_read, *settled):
        _sync_job_plans(client=client, job_esa_id=job_esa_id, now=now)
        report.esa_calls += 1
        report.plan_listings += 1


@dataclass(slots=True)
class _PlansDue:
    """A site's jobs whose plans a cycle reads: those that can change (always), those never read
    and settled ones due for their re-read, oldest first (both spread over cycles)."""

    changing: list[str]
    never_read: list[str]
    settled: list[str]


def _plans_due(
    esa_jobs: Iterable[EsaJob],
    before: Mapping[str, Mapping[str, Any]],
    *,
    unfinished: Collection[str],
    watched: bool,
    now: datetime,
) -> _PlansDue:
    settled_before = now - timedelta(seconds=_resync_seconds())
    due = _PlansDue([], [], [])
    settled_at: dict[str, datetime] = {}
    for esa_job in esa_jobs:
        known = before.get(esa_job.id)
        if known is None or known["plans_synced_at"] is None:
            (due.changing if watched else due.never_read).append(esa_job.id)
        elif (
            watched
            or esa_job.id in unfinished
            or known["url_submitted"] != esa_job.url_submitted
            or known["execution_count"] != esa_job.execution_count
        ):
            due.changing.append(esa_job.id)
        elif known["plans_synced_at"] < settled_before:
            settled_at[esa_job.id] = known["plans_synced_at"]
    due.settled = sorted(settled_at, key=settled_at.__getitem__)
    return due


def _resync_seconds() -> float:
    return max(float(settings.PREFETCH_SETTLED_JOB_RESYNC), float(settings.PREFETCH_SYNC_PERIOD), 1.0)


def _sync_job_plans(*, client: EsaClient, job_esa_id: str, now: datetime) -> None:
    asked = mirror_basis()
    try:
        plans = client.list_scheduled_preload_executions(job_esa_id).items
    except EsaNotFoundError:
        job_forget(esa_id=job_esa_id, basis=asked)
        return
    job = Job.objects.filter(esa_id=job_esa_id).first()
    if job is not None:  # else deleted meanwhile, or left out as older than the mirror knows
        job_plans_replace(job=job, plans=plans, now=now, basis=asked)
