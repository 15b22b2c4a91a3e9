"""Reads for the sites pages: the list of sites, one site's jobs, and a poll's changes of them."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet
from django.utils import timezone

from prefetch_ui.core.precompiled import PrecompiledQuery, precompiled_query

from ..holds import Holds, holds
from ..models import (
    ACTIVE_OPERATION_STATUSES,
    JOBS_NEWEST_FIRST,
    Job,
    Operation,
    OperationKind,
    OperationStatus,
    Plan,
    Site,
)
from .mirror_age import mirror_age, site_read_at
from .statuses import (
    HELD,
    STATUS_ORDER,
    UNFINISHED_COUNTS,
    JobCounted,
    plan_counts_by,
    plan_counts_of,
    plan_counts_query,
)


def sites_version(*, site_ids: Collection[int] | None = None, now: datetime | None = None) -> str:
    """One token for a page that shows several sites together (all, or `site_ids`): a short digest
    of their change versions, so it changes when anything on any of them does, and a site comes
    or goes. With `now`, it also changes every minute, for a page that shows times relative to it
    ("in 59 minutes", late, the now-line). It also changes when what the page's note of the
    mirror's age says does (`MirrorAge.token`), though the last reads move no version. One query;
    read it before the page's data."""
    sites = (
        Site.objects.order_by("pk").annotate(read_at=site_read_at()).values_list("pk", "version", "read_at")
    )
    if site_ids is not None:
        sites = sites.filter(pk__in=site_ids)
    rows = list(sites)
    digest = hashlib.blake2b(
        repr([(pk, version) for pk, version, _ in rows]).encode(), digest_size=8
    ).hexdigest()
    age = mirror_age(read_times=[read_at for _, _, read_at in rows], now=now or timezone.now())
    if age is not None:
        digest = f"{digest}-{age.token}"
    return digest if now is None else f"{digest}-{int(now.timestamp()) // 60}"


def site_list() -> QuerySet[Site]:
    """Every site with its job count and plan counts by status (`plans_<status>`), held plans
    counted apart (`plans_held`)."""
    held = Q(holds().plan_held(OuterRef("jobs__plans__esa_id")))
    plan_counts = {
        f"plans_{status}": Count("jobs__plans", filter=Q(jobs__plans__status=status) & ~held)
        for status in STATUS_ORDER
    }
    plan_counts[f"plans_{HELD}"] = Count("jobs__plans", filter=held)
    return Site.objects.annotate(job_count=Count("jobs", distinct=True), **plan_counts).order_by("name")


def site_job_list(
    *, site: Site, name: str = "", created_from: date | None = None, created_to: date | None = None
) -> QuerySet[Job]:
    """A site's jobs, newest first, filtered by name and creation date.

    Plain rows, so that paginating walks the (site, -esa_created_at) index; the plan counts of
    the page shown come from `job_rows`.
    """
    jobs = _site_jobs(site.pk)
    if name:
        jobs = jobs.filter(name__icontains=name)
    if created_from:
        jobs = jobs.filter(esa_created_at__date__gte=created_from)
    if created_to:
        jobs = jobs.filter(esa_created_at__date__lte=created_to)
    return jobs.order_by(*JOBS_NEWEST_FIRST)


@dataclass(frozen=True, slots=True)
class JobRow(JobCounted):
    """A job as the site page lists it, with its plans counted by status."""

    job: Job
    plan_counts: dict[str, int]

    @property
    def unfinished(self) -> bool:
        return any(self.plan_counts.get(status, 0) for status in UNFINISHED_COUNTS)


def job_rows(jobs: Iterable[Job]) -> list[JobRow]:
    """The given jobs with their plan counts by status, in one query for all of them."""
    jobs = list(jobs)
    counts = _plan_counts_by_job([job.pk for job in jobs])
    return [JobRow(job=job, plan_counts=counts.get(job.pk, {})) for job in jobs]


@dataclass(frozen=True, slots=True)
class SiteJobChanges:
    """The rows of one page of a site's jobs that changed since a version, and whether anything
    on that page will still change by itself."""

    rows: list[JobRow]
    unfinished: bool


def site_job_changes(
    *, site: Site, jobs: QuerySet[Job], since: int, page_number: int, per_page: int, filtered: bool = True
) -> SiteJobChanges:
    """The jobs of one page of `jobs` (a `site_job_list`) stamped after version `since`, with
    their plan counts, for a poll of a site page whose list kept its shape, and whether anything
    on the page will still change by itself. Reads the changed jobs, and only if there are any,
    the plan counts of the page's jobs (and, if none of them has a plan to submit, whether a job
    is being created). For the list of all the site's jobs (not `filtered`), the two queries are
    compiled once for each page (`_page_queries`): every open site page polls them."""
    offset = (max(page_number, 1) - 1) * per_page
    if filtered:
        page_ids = jobs.values("pk")[offset : offset + per_page]
        changed = list(jobs.filter(version__gt=since, pk__in=page_ids))
        if not changed:
            # Its rows and its list as they were: as unfinished as the page that polls.
            return SiteJobChanges(rows=[], unfinished=True)
        counts = _plan_counts_by_job(page_ids)
    else:
        changed_query, counts_query = _page_queries(holds(), connection.vendor, offset, per_page)
        changed = list(changed_query.raw(site=site.pk, since=since))
        if not changed:
            return SiteJobChanges(rows=[], unfinished=True)
        counts = plan_counts_of(counts_query.rows(site=site.pk))
    unfinished = any(
        counts.get(job_id, {}).get(status) for job_id in counts for status in UNFINISHED_COUNTS
    ) or (
        Operation.objects.filter(
            site=site, kind=OperationKind.JOB_CREATE, status__in=ACTIVE_OPERATION_STATUSES
        ).exists()
    )
    return SiteJobChanges(
        rows=[JobRow(job=job, plan_counts=counts.get(job.pk, {})) for job in changed], unfinished=unfinished
    )


def _site_jobs(site_id: int) -> QuerySet[Job]:
    return Job.objects.filter(site_id=site_id).order_by(*JOBS_NEWEST_FIRST)


# Placeholders for the parameters of `_page_queries`: no site's pk and no version is this large,
# and both are in their fields' ranges (a value out of range, Django leaves out of the SQL).
_SITE_SLOT, _SINCE_SLOT = 9_000_000_000_000_000_001, 9_000_000_000_000_000_002


@functools.lru_cache(maxsize=64)
def _page_queries(
    registered: Holds, vendor: str, offset: int, per_page: int
) -> tuple[PrecompiledQuery, PrecompiledQuery]:
    """`site_job_changes`'s two queries for one page of a site's unfiltered list, compiled once
    (the page's bounds are in the SQL, not parameters): the jobs changed since a version, and the
    plan counts of the page's jobs."""
    page_ids = _site_jobs(_SITE_SLOT).values("pk")[offset : offset + per_page]
    changed = _site_jobs(_SITE_SLOT).filter(version__gt=_SINCE_SLOT, pk__in=page_ids)
    counts = plan_counts_query(Plan.objects.filter(job_id__in=page_ids), "job_id")
    return (
        precompiled_query(changed, site=_SITE_SLOT, since=_SINCE_SLOT),
        precompiled_query(counts, site=_SITE_SLOT),
    )


def _plan_counts_by_job(job_ids: Iterable[int] | QuerySet[Any]) -> dict[int, dict[str, int]]:
    """Plans by status (held apart) for each of these jobs, in one query."""
    return plan_counts_by(Plan.objects.filter(job_id__in=job_ids), "job_id")


def site_moved_since_read(site: Site) -> bool:
    """Whether anything on the site's page changed since `site` (its version) was read: asked last,
    before a page or a poll's answer says nothing on it is unfinished, which stops its poll for good.
    Its reads are separate queries, each of its own moment; when the site moved meanwhile, they may
    be of two moments (a created job in neither the list nor the creations under way), and the page
    polls on: its next poll, from the version read first, gets the page as it is."""
    return Site.objects.filter(pk=site.pk, version__gt=site.version).exists()


def site_job_creations(site: Site, *, now: datetime | None = None) -> list[Operation]:
    """Jobs asked for on this site that ESA does not have yet: under way, or failed in the last day."""
    since = (now or timezone.now()) - timedelta(days=1)
    return list(
        Operation.objects.filter(site=site, kind=OperationKind.JOB_CREATE)
        .filter(
            Q(status__in=ACTIVE_OPERATION_STATUSES) | Q(status=OperationStatus.FAILED, created_at__gte=since)
        )
        .select_related("requested_by")
        .order_by("-created_at")[:20]
    )
