"""Mirroring ESA: the periodic sync, and the one place ESA's answers are written into the mirror.

ESA is the source of truth for sites, jobs and plans. Each model has one table below that maps
its fields to the ESA client's attributes; the sync and the operations both write through it, so
a field added to the mirror is added once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Model
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
from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.esa import Site as EsaSite

from ..models import UNFINISHED_PLAN_STATUSES, Job, Plan, Site

logger = logging.getLogger(__name__)

# Model field -> attribute of the ESA client's type. `synced_at` and the links (a job's site, a
# plan's job) are set by the writer, not read from ESA.
SITE_FIELDS = {
    "esa_id": "site_id",
    "name": "site_name",
    "status": "status",
    "plan_name": "plan_name",
    "coverage": "coverage",
    "access_type": "access_type",
    "esa_created_at": "created_at",
}
JOB_FIELDS = {
    "esa_id": "id",
    "name": "name",
    "insert_way": "insert_way",
    "task_type": "task_type",
    "url_count": "url_count",
    "url_submitted": "url_submitted",
    "task_submitted": "task_submitted",
    "domains": "domains",
    "error_info": "error_info",
    "file_id": "file_id",
    "failed_file_oss": "failed_file_oss",
    "ali_uid": "ali_uid",
    "esa_created_at": "created_at",
    "execution_count": "execution_count",
}
PLAN_FIELDS = {
    "esa_id": "id",
    "start_time": "start_time",
    "end_time": "end_time",
    "interval": "interval",
    "slice_len": "slice_len",
    "status": "status",
    "ali_uid": "ali_uid",
}

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


class UnstorableValueError(ValueError):
    """A value from ESA that its mirror column cannot hold without changing what it says: an id longer
    than the column, a number out of the column's range."""


def _values(esa_object: object, model: type[Model], fields: dict[str, str]) -> dict[str, object]:
    return {name: _fitted(model, name, getattr(esa_object, attribute)) for name, attribute in fields.items()}


def _fitted(model: type[Model], name: str, value: object) -> object:
    """`value` as the column `model.name` can hold it, on every database alike.

    SQLite keeps any text and any 64-bit number in any column; PostgreSQL refuses what does not fit
    (a NUL never reaches here: the ESA client replaces it). Text too long for its column is cut, with
    an ellipsis, unless the column identifies something (an ESA id): that, and a number out of range,
    raise UnstorableValueError, which fails the sync of that site alone.
    """
    field = model._meta.get_field(name)
    if isinstance(value, str):
        limit = getattr(field, "max_length", None)
        if limit is None or len(value) <= limit:
            return value
        if getattr(field, "unique", False):
            raise UnstorableValueError(
                f"ESA sent a {model.__name__.lower()} {name} of {len(value)} characters (at most {limit}"
                f" fit): {value[:40]!r}{'…' if len(value) > 40 else ''}"
            )
        return value[: limit - 1] + "…"
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = BaseDatabaseOperations.integer_field_ranges.get(field.get_internal_type(), (None, None))
        if (low is not None and value < low) or (high is not None and value > high):
            raise UnstorableValueError(
                f"ESA sent a {model.__name__.lower()} {name} of {value}, outside {low}..{high}"
            )
    return value


def _upsert[M: (Site, Job, Plan)](
    model: type[M], fields: dict[str, str], esa_objects: Iterable[object], now: datetime, **links: object
) -> None:
    """Insert or update mirror rows from ESA objects, keyed by ESA id."""
    rows = [model(**_values(item, model, fields), **links, synced_at=now) for item in esa_objects]
    if rows:
        model.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["esa_id"],
            update_fields=[*(name for name in fields if name != "esa_id"), *links, "synced_at"],
            batch_size=500,
        )


def jobs_upsert(*, site: Site, jobs: Iterable[EsaJob], now: datetime) -> None:
    """Write ESA's view of these jobs of `site` into the mirror."""
    _upsert(Job, JOB_FIELDS, jobs, now, site=site)


def plans_upsert(*, job: Job, plans: Iterable[EsaPlan], now: datetime) -> None:
    """Write ESA's view of these plans of `job` into the mirror."""
    _upsert(Plan, PLAN_FIELDS, plans, now, job=job)


def plan_update(*, plan: EsaPlan, now: datetime) -> None:
    """Write ESA's answer about one plan (after a start, stop or update) into its mirror row."""
    values = _values(plan, Plan, PLAN_FIELDS)
    del values["esa_id"]
    Plan.objects.filter(esa_id=plan.id).update(**values, synced_at=now)


def job_plans_replace(*, job: Job, plans: Iterable[EsaPlan], now: datetime) -> None:
    """Make the mirror of `job`'s plans exactly ESA's list."""
    plans = list(plans)
    with transaction.atomic():
        plans_upsert(job=job, plans=plans, now=now)
        Plan.objects.filter(job=job).exclude(esa_id__in=[plan.id for plan in plans]).delete()
        Job.objects.filter(pk=job.pk).update(plans_synced_at=now)


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
    *, client: EsaClient, now: datetime | None = None, watched: Callable[[Site], bool] = lambda site: False
) -> SyncReport:
    """One cycle of the mirror: all sites, all their job pages, the plans of jobs that may change.

    A job's plans are re-read when it has an unfinished plan, when ESA's plan count differs from
    ours, when its progress moved, or when they were last read more than
    `PREFETCH_SETTLED_JOB_RESYNC` seconds ago; so a cycle costs sites + job pages + active jobs.
    A site whose own calls fail (a permission refused, an answer we cannot read) keeps the error
    on its row for the sites page, and the cycle goes on with the other sites. On a `watched` site
    (one under a hold) every job's plans are read, settled or not: a plan started in the console
    changes no count we could notice.
    """
    now = now or timezone.now()
    report = SyncReport()
    esa_sites: list[EsaSite]
    esa_sites, total = _every_page(
        lambda number: client.list_sites(page_number=number, page_size=500), report
    )
    with transaction.atomic():
        _upsert(Site, SITE_FIELDS, esa_sites, now)
        if len(esa_sites) == total:
            Site.objects.exclude(esa_id__in=[site.site_id for site in esa_sites]).delete()
    report.sites = len(esa_sites)
    for site in Site.objects.all():
        try:
            _sync_site_jobs(client=client, site=site, now=now, report=report, watched=watched(site))
        except _ESA_WIDE_ERRORS:
            raise
        except (EsaError, EsaTimeError, UnstorableValueError) as error:
            report.site_errors += 1
            logger.warning("ESA sync of site %s (%s) failed: %s", site.esa_id, site.name, error)
            Site.objects.filter(pk=site.pk).update(sync_error=_describe(error)[:2000], sync_error_at=now)
        else:
            if site.sync_error:
                Site.objects.filter(pk=site.pk).update(sync_error="", sync_error_at=None)
    return report


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
    *, client: EsaClient, site: Site, now: datetime, report: SyncReport, watched: bool = False
) -> None:
    listed, total = _every_page(
        lambda number: client.list_scheduled_preload_jobs(
            site_id=site.esa_id, page_number=number, page_size=settings.PREFETCH_SYNC_JOB_PAGE_SIZE
        ),
        report,
    )
    esa_jobs = {job.id: job for job in listed}
    before = {
        job.esa_id: job
        for job in Job.objects.filter(site=site).only(
            "esa_id", "url_submitted", "execution_count", "plans_synced_at"
        )
    }
    with transaction.atomic():
        jobs_upsert(site=site, jobs=esa_jobs.values(), now=now)
        # Deleting what ESA no longer lists is only safe when the listing was complete: a job
        # deleted in ESA between two page reads shifts the pages and hides another one.
        if len(esa_jobs) == total:
            removed, _ = Job.objects.filter(site=site).exclude(esa_id__in=esa_jobs.keys()).delete()
            report.jobs_removed += removed
    report.jobs += len(esa_jobs)
    unfinished = set(
        Plan.objects.filter(job__site=site, status__in=UNFINISHED_PLAN_STATUSES).values_list(
            "job__esa_id", flat=True
        )
    )
    settled_before = now - timedelta(seconds=settings.PREFETCH_SETTLED_JOB_RESYNC)
    for esa_job in esa_jobs.values():
        known = before.get(esa_job.id)
        if (
            watched
            or known is None
            or known.plans_synced_at is None
            or known.plans_synced_at < settled_before
            or esa_job.id in unfinished
            or known.url_submitted != esa_job.url_submitted
            or known.execution_count != esa_job.execution_count
        ):
            _sync_job_plans(client=client, job_esa_id=esa_job.id, now=now)
            report.esa_calls += 1
            report.plan_listings += 1


def _sync_job_plans(*, client: EsaClient, job_esa_id: str, now: datetime) -> None:
    try:
        plans = client.list_scheduled_preload_executions(job_esa_id).items
    except EsaNotFoundError:
        Job.objects.filter(esa_id=job_esa_id).delete()
        return
    job_plans_replace(job=Job.objects.get(esa_id=job_esa_id), plans=plans, now=now)
