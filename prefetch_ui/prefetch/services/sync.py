"""Mirroring ESA: the periodic sync, and the one place ESA's answers are written into the mirror.

ESA is the source of truth for sites, jobs and plans. Each model has one table below that maps
its fields to the ESA client's attributes; the sync and the operations both write through it, so
a field added to the mirror is added once. The writers compare ESA's values with the mirror's and
write only the rows that differ, stamped with their site's next change version (`changes.py`):
a sync that finds nothing new writes nothing, and a page polling the mirror hears of nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Model, QuerySet
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
from .changes import site_version_next
from .freshness import site_jobs_read

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


def _mirror_rows(rows: QuerySet[Any], fields: dict[str, str], *extra: str) -> dict[Any, dict[str, Any]]:
    """The mirror's rows by ESA id, with what ESA writes in them: to tell what ESA changed."""
    return {row["esa_id"]: row for row in rows.values("pk", *fields, *extra)}


def _differs(row: Mapping[str, object] | None, values: Mapping[str, object]) -> bool:
    return row is None or any(row[field] != value for field, value in values.items())


def _upsert[M: (Site, Job, Plan)](
    model: type[M],
    fields: dict[str, str],
    esa_objects: Iterable[object],
    now: datetime,
    *,
    stamp: Mapping[str, int] = MappingProxyType({}),
    **links: object,
) -> None:
    """Insert or update mirror rows from ESA objects, keyed by ESA id, with the change versions
    in `stamp` (field -> version)."""
    rows = [model(**_values(item, model, fields), **links, **stamp, synced_at=now) for item in esa_objects]
    if rows:
        model.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["esa_id"],
            update_fields=[*(name for name in fields if name != "esa_id"), *links, *stamp, "synced_at"],
            batch_size=500,
        )


def jobs_upsert(*, site: Site, jobs: Iterable[EsaJob], now: datetime) -> None:
    """Write ESA's view of these jobs of `site` into the mirror (only what it changed)."""
    jobs = list(jobs)
    mirror = _mirror_rows(Job.objects.filter(esa_id__in=[job.id for job in jobs]), JOB_FIELDS)
    _jobs_write(site=site, jobs=jobs, mirror=mirror, now=now)


def _jobs_write(
    *,
    site: Site,
    jobs: Iterable[EsaJob],
    mirror: Mapping[str, Mapping[str, object]],
    now: datetime,
    removed: Collection[int] = (),
) -> None:
    """Write the jobs whose values differ from the mirror's, and delete the `removed` rows (pks),
    in one transaction stamped with the site's next change version (none when nothing changed)."""
    changed = [job for job in jobs if _differs(mirror.get(job.id), _values(job, Job, JOB_FIELDS))]
    if not changed and not removed:
        return
    with transaction.atomic():
        version = site_version_next(site.pk)
        _upsert(Job, JOB_FIELDS, changed, now, stamp={"version": version, "row_version": version}, site=site)
        if removed:
            Job.objects.filter(pk__in=removed).delete()
        if removed or any(_moves(mirror.get(job.id), job) for job in changed):
            Site.objects.filter(pk=site.pk).update(layout_version=version)


def _moves(row: Mapping[str, object] | None, job: EsaJob) -> bool:
    """Whether writing `job` over the mirror's `row` reshapes the site page's list: a new job, or
    one whose creation time (the order) or name (the filter) changed."""
    return row is None or row["esa_created_at"] != job.created_at or row["name"] != job.name


def plans_upsert(*, job: Job, plans: Iterable[EsaPlan], now: datetime) -> None:
    """Write ESA's view of these plans of `job` into the mirror (only what it changed)."""
    plans = list(plans)
    mirror = _mirror_rows(Plan.objects.filter(esa_id__in=[plan.id for plan in plans]), PLAN_FIELDS)
    _plans_write(job=job, plans=plans, mirror=mirror, now=now)


def _plans_write(
    *,
    job: Job,
    plans: Iterable[EsaPlan],
    mirror: Mapping[str, Mapping[str, object]],
    now: datetime,
    removed: Collection[int] = (),
    job_fields: Mapping[str, object] | None = None,
) -> None:
    """Write the plans of `job` whose values differ from the mirror's and delete the `removed` rows
    (pks), stamped with the site's next change version; the job's own `job_fields` with them."""
    changed: list[EsaPlan] = []
    relaid = statuses = bool(removed)
    for plan in plans:
        values = _values(plan, Plan, PLAN_FIELDS)
        row = mirror.get(plan.id)
        if not _differs(row, values):
            continue
        changed.append(plan)
        # A plan added or moved in the order reshapes the job's list; a status may move it in
        # or out of a list filtered by status.
        relaid = relaid or row is None or row["start_time"] != values["start_time"]
        statuses = statuses or row is None or row["status"] != values["status"]
    stamp: dict[str, object] = dict(job_fields or {})
    with transaction.atomic():
        if changed or removed:
            version = site_version_next(job.site_id)
            _upsert(Plan, PLAN_FIELDS, changed, now, stamp={"version": version}, job=job)
            if removed:
                Plan.objects.filter(pk__in=removed).delete()
            stamp["version"] = version
            if relaid:
                stamp["layout_version"] = version
            if statuses:
                stamp["statuses_version"] = version
        if stamp:
            Job.objects.filter(pk=job.pk).update(**stamp)


def plan_update(*, plan: EsaPlan, now: datetime) -> None:
    """Write ESA's answer about one plan (after a start, stop or update) into its mirror row."""
    row = Plan.objects.filter(esa_id=plan.id).values("pk", "job_id", "job__site_id", *PLAN_FIELDS).first()
    if row is None:
        return
    job = Job(pk=row["job_id"], site_id=row["job__site_id"])
    _plans_write(job=job, plans=[plan], mirror={plan.id: row}, now=now)


def plan_forget(*, esa_id: str) -> None:
    """Delete a plan that ESA no longer has (deleted from here), as a change of its job's list."""
    row = Plan.objects.filter(esa_id=esa_id).values("pk", "job_id", "job__site_id").first()
    if row is not None:
        job = Job(pk=row["job_id"], site_id=row["job__site_id"])
        _plans_write(job=job, plans=[], mirror={}, now=timezone.now(), removed=[row["pk"]])


def job_forget(*, esa_id: str) -> None:
    """Delete a job that ESA no longer has (deleted from here, or found gone), with its plans."""
    row = Job.objects.filter(esa_id=esa_id).values("pk", "site_id").first()
    if row is not None:
        _jobs_write(site=Site(pk=row["site_id"]), jobs=[], mirror={}, now=timezone.now(), removed=[row["pk"]])


def job_plans_replace(*, job: Job, plans: Iterable[EsaPlan], now: datetime) -> None:
    """Make the mirror of `job`'s plans exactly ESA's list."""
    plans = list(plans)
    mirror = _mirror_rows(Plan.objects.filter(job=job), PLAN_FIELDS)
    listed = {plan.id for plan in plans}
    removed = [row["pk"] for esa_id, row in mirror.items() if esa_id not in listed]
    _plans_write(
        job=job, plans=plans, mirror=mirror, now=now, removed=removed, job_fields={"plans_synced_at": now}
    )


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
    _sites_write(esa_sites, complete=len(esa_sites) == total, now=now)
    report.sites = len(esa_sites)
    for site in Site.objects.all():
        try:
            _sync_site_jobs(client=client, site=site, now=now, report=report, watched=watched(site))
        except _ESA_WIDE_ERRORS:
            raise
        except (EsaError, EsaTimeError, UnstorableValueError) as error:
            report.site_errors += 1
            logger.warning("ESA sync of site %s (%s) failed: %s", site.esa_id, site.name, error)
            _site_error_write(site, _describe(error)[:2000], now=now)
        else:
            _site_error_write(site, "", now=now)
            site_jobs_read(site_id=site.pk, at=now)
    return report


def _sites_write(esa_sites: list[EsaSite], *, complete: bool, now: datetime) -> None:
    """New sites, changed sites (each stamped with its own next version), and, when the listing
    was complete, no more of the sites ESA no longer lists."""
    mirror = _mirror_rows(Site.objects.all(), SITE_FIELDS)
    _upsert(Site, SITE_FIELDS, [site for site in esa_sites if site.site_id not in mirror], now)
    for esa_site in esa_sites:
        row = mirror.get(esa_site.site_id)
        values = _values(esa_site, Site, SITE_FIELDS)
        if row is not None and _differs(row, values):
            with transaction.atomic():
                site_version_next(row["pk"])
                Site.objects.filter(pk=row["pk"]).update(**values, synced_at=now)
    if complete:
        Site.objects.exclude(esa_id__in=[site.site_id for site in esa_sites]).delete()


def _site_error_write(site: Site, error: str, *, now: datetime) -> None:
    """Record why the site's jobs could not be read ("" once they could), when that changed:
    `sync_error_at` is when the error began."""
    if error == site.sync_error:
        return
    with transaction.atomic():
        site_version_next(site.pk)
        Site.objects.filter(pk=site.pk).update(sync_error=error, sync_error_at=now if error else None)


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
    before = _mirror_rows(Job.objects.filter(site=site), JOB_FIELDS, "plans_synced_at")
    # Deleting what ESA no longer lists is only safe when the listing was complete: a job
    # deleted in ESA between two page reads shifts the pages and hides another one.
    complete = len(esa_jobs) == total
    removed = [row["pk"] for esa_id, row in before.items() if complete and esa_id not in esa_jobs]
    _jobs_write(site=site, jobs=esa_jobs.values(), mirror=before, now=now, removed=removed)
    report.jobs_removed += len(removed)
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
            or known["plans_synced_at"] is None
            or known["plans_synced_at"] < settled_before
            or esa_job.id in unfinished
            or known["url_submitted"] != esa_job.url_submitted
            or known["execution_count"] != esa_job.execution_count
        ):
            _sync_job_plans(client=client, job_esa_id=esa_job.id, now=now)
            report.esa_calls += 1
            report.plan_listings += 1


def _sync_job_plans(*, client: EsaClient, job_esa_id: str, now: datetime) -> None:
    try:
        plans = client.list_scheduled_preload_executions(job_esa_id).items
    except EsaNotFoundError:
        job_forget(esa_id=job_esa_id)
        return
    job_plans_replace(job=Job.objects.get(esa_id=job_esa_id), plans=plans, now=now)
