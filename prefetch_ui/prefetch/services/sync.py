"""Mirroring ESA: the periodic sync, and the one place ESA's answers are written into the mirror.

ESA is the source of truth for sites, jobs and plans. Each model has one table below that maps
its fields to the ESA client's attributes; the sync and the operations both write through it, so
a field added to the mirror is added once. The writers compare ESA's values with the mirror's and
write only the rows that differ, stamped with their site's next change version (`changes.py`):
a sync that finds nothing new writes nothing, and a page polling the mirror hears of nothing.

A read of ESA can be overtaken: a sync reads a job's plans, a drainer stops one and writes ESA's
answer, then the sync writes what it read, the plan running. So every write of a job or plan row
records its basis, the moment of ESA's state it reflects (`mirror_basis`), and the writers compare
bases under the site's row lock before they write: a write based on an older state than a row's
leaves that row alone (and does not delete it), while the rest of what it brings goes in.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Model, Q, QuerySet
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
    # Sites left out of this cycle while an incident's fan-out works on them.
    sites_paused: int = 0
    # Jobs whose plans were due for a read (never read, or settled and due for the periodic
    # re-read) and were left for the next cycles: the backlog this cycle had no allowance for.
    backlog_left: int = 0


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
    stamp: Mapping[str, object] = MappingProxyType({}),
    **links: object,
) -> None:
    """Insert or update mirror rows from ESA objects, keyed by ESA id, with the fields in `stamp`
    (the change versions, the basis)."""
    rows = [model(**_values(item, model, fields), **links, **stamp, synced_at=now) for item in esa_objects]
    if rows:
        model.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["esa_id"],
            update_fields=[*(name for name in fields if name != "esa_id"), *links, *stamp, "synced_at"],
            batch_size=500,
        )


def jobs_upsert(*, site: Site, jobs: Iterable[EsaJob], now: datetime, basis: datetime | None = None) -> None:
    """Write ESA's view of these jobs of `site` into the mirror (only what it changed).

    `basis`: what ESA state the jobs reflect (see `mirror_basis`); by default `now`, which is right
    for ESA's answer to an action just received (a create, a reset).
    """
    _jobs_write(site=site, jobs=jobs, now=now, basis=basis or now)


def _jobs_write(
    *,
    site: Site,
    jobs: Iterable[EsaJob],
    now: datetime,
    basis: datetime,
    complete: bool = False,
    forget: Collection[str] = (),
) -> tuple[dict[str, dict[str, Any]], int]:
    """Write the jobs whose values differ from the mirror's and that the mirror does not know at a
    newer basis; delete the `forget` rows and, for a `complete` listing of the site, the rows it no
    longer lists (both unless known at a newer basis). Stamped with the site's next change version
    (none when nothing changed). Returns the mirror's rows of these jobs as they were before, and
    how many it deleted.

    A complete listing also moves the site's `jobs_esa_state_at` on, which stands for every job row
    whose values it found unchanged: no row is written for them.
    """
    by_id = {job.id: job for job in jobs}
    with transaction.atomic():
        listed_at = _site_lock(site.pk)
        if listed_at is _GONE:
            return {}, 0
        rows = Job.objects.filter(site=site) if complete else Job.objects.filter(esa_id__in=[*by_id, *forget])
        mirror = _mirror_rows(rows, JOB_FIELDS, "plans_synced_at", "esa_state_at")
        changed = []
        moves = False
        for job in by_id.values():
            row = mirror.get(job.id)
            if _based_before(basis, row, listed_at) or not _differs(row, _values(job, Job, JOB_FIELDS)):
                continue
            changed.append(job)
            moves = moves or _moves(row, job)
        removed = [
            row["pk"]
            for esa_id, row in mirror.items()
            if (esa_id in forget or (complete and esa_id not in by_id))
            and not _based_before(basis, row, listed_at)
        ]
        site_fields: dict[str, object] = {}
        if complete and not _based_before(basis, None, listed_at):
            site_fields["jobs_esa_state_at"] = basis
        if changed or removed:
            version = site_version_next(site.pk)
            stamp = {"version": version, "row_version": version, "esa_state_at": basis}
            _upsert(Job, JOB_FIELDS, changed, now, stamp=stamp, site=site)
            if removed:
                Job.objects.filter(pk__in=removed).delete()
            if removed or moves:
                site_fields["layout_version"] = version
        if site_fields:
            Site.objects.filter(pk=site.pk).update(**site_fields)
    return mirror, len(removed)


def _moves(row: Mapping[str, object] | None, job: EsaJob) -> bool:
    """Whether writing `job` over the mirror's `row` reshapes the site page's list: a new job, or
    one whose creation time (the order) or name (the filter) changed."""
    return row is None or row["esa_created_at"] != job.created_at or row["name"] != job.name


# `_site_lock`'s answer for a site no longer in the mirror (distinct from a basis that is None).
_GONE: Any = object()


def _site_lock(site_id: int) -> datetime | None:
    """Lock the site's row for the rest of the caller's transaction; its jobs' listing basis.

    Every writer of a site's jobs and plans takes this row first (`changes.site_version_next`), so
    what the caller reads of them after this is what it writes over: no other write slips between
    the comparison of bases and the write (PostgreSQL, READ COMMITTED: the next statement sees every
    write committed before the lock was granted; SQLite: the IMMEDIATE transaction holds the
    database's write lock already).
    """
    row = Site.objects.select_for_update().filter(pk=site_id).values("jobs_esa_state_at").first()
    return _GONE if row is None else row["jobs_esa_state_at"]


def _based_before(basis: datetime, row: Mapping[str, Any] | None, listed_at: datetime | None) -> bool:
    """Whether a write based on ESA's state at `basis` is older than what the mirror shows of a row:
    its own basis, or the basis of the last complete listing that stands for it (for a row that is
    not there: the listing that did not have it). Equal bases write (see `mirror_basis`)."""
    known = [at for at in (row["esa_state_at"] if row else None, listed_at) if at is not None]
    return any(basis < at for at in known)


def mirror_basis() -> datetime:
    """The basis of a write into the mirror: what ESA state the values written reflect, as a point
    in time on our clock. Every write of a job or plan row records it, and a write whose basis is
    older than the row's leaves that row alone.

    - ESA's answer to an action (start, stop, update, create, reset): the moment the answer was
      received. ESA applied the action before answering, so the state it answers with held at
      that moment at least; a later change in ESA makes a later basis.
    - A read (a listing): the moment its request was sent, taken just before sending. ESA answers
      from its state at some moment after it got the request, so after we sent it: any action
      whose answer was received before then is in the listing. An action answered after the
      request went out may or may not be (ESA may have read its state before applying it), so the
      listing, being based earlier, loses to that answer: the mirror keeps the answer, which is
      never older than what the listing might show. What the listing alone saw (a plan finished,
      or started in the console) comes in at the next listing.

    Equal bases: the later write wins (with the strict order above an answer received at the
    moment a listing was sent is in that listing). The points come from the clocks of the
    processes that write (one host in the compose deployment); they must agree to better than an
    ESA round trip, which NTP gives.
    """
    return timezone.now()


def plans_upsert(*, job: Job, plans: Iterable[EsaPlan], now: datetime, basis: datetime | None = None) -> None:
    """Write ESA's view of these plans of `job` into the mirror (only what it changed).

    `basis`: what ESA state the plans reflect (see `mirror_basis`); by default `now`, which is right
    for ESA's answer to an action just received (a create).
    """
    _plans_write(job=job, plans=plans, now=now, basis=basis or now)


def _plans_write(
    *,
    job: Job,
    plans: Iterable[EsaPlan],
    now: datetime,
    basis: datetime,
    complete: bool = False,
    forget: Collection[str] = (),
    job_fields: Mapping[str, object] | None = None,
) -> None:
    """Write the plans of `job` whose values differ from the mirror's and that the mirror does not
    know at a newer basis; delete the `forget` rows and, for a `complete` listing of the job's
    plans, the rows it does not list (both unless known at a newer basis: a plan created after the
    listing was read stays). Stamped with the site's next change version (none when nothing
    changed); the job's own `job_fields` with them.

    A complete listing also moves the job's `plans_esa_state_at` on, which stands for every plan
    row whose values it found unchanged: no row is written for them, and no version taken.
    """
    by_id = {plan.id: plan for plan in plans}
    with transaction.atomic():
        if _site_lock(job.site_id) is _GONE:
            return
        job_row = Job.objects.filter(pk=job.pk).values("plans_esa_state_at").first()
        if job_row is None:
            return
        listed_at = job_row["plans_esa_state_at"]
        rows = Plan.objects.filter(job=job) if complete else Plan.objects.filter(esa_id__in=[*by_id, *forget])
        mirror = _mirror_rows(rows, PLAN_FIELDS, "esa_state_at")
        changed: list[EsaPlan] = []
        removed = [
            row["pk"]
            for esa_id, row in mirror.items()
            if (esa_id in forget or (complete and esa_id not in by_id))
            and not _based_before(basis, row, listed_at)
        ]
        relaid = statuses = bool(removed)
        confirmed: list[int] = []  # rows ESA said again as they are, at a newer basis than theirs
        for plan in by_id.values():
            row = mirror.get(plan.id)
            values = _values(plan, Plan, PLAN_FIELDS)
            if _based_before(basis, row, listed_at):
                continue
            if not _differs(row, values):
                if (
                    row is not None
                    and not complete
                    and (row["esa_state_at"] is None or row["esa_state_at"] < basis)
                ):
                    confirmed.append(row["pk"])
                continue
            changed.append(plan)
            # A plan added or moved in the order reshapes the job's list; a status may move it in
            # or out of a list filtered by status.
            relaid = relaid or row is None or row["start_time"] != values["start_time"]
            statuses = statuses or row is None or row["status"] != values["status"]
        stamp: dict[str, object] = dict(job_fields or {})
        if complete and not _based_before(basis, None, listed_at):
            stamp["plans_esa_state_at"] = basis
        if confirmed:  # their basis moves on, with no version: nothing shown changes
            Plan.objects.filter(pk__in=confirmed).update(esa_state_at=basis)
        if changed or removed:
            version = site_version_next(job.site_id)
            _upsert(
                Plan, PLAN_FIELDS, changed, now, stamp={"version": version, "esa_state_at": basis}, job=job
            )
            if removed:
                Plan.objects.filter(pk__in=removed).delete()
            stamp["version"] = version
            if relaid:
                stamp["layout_version"] = version
            if statuses:
                stamp["statuses_version"] = version
        if stamp:
            Job.objects.filter(pk=job.pk).update(**stamp)


def plan_update(*, plan: EsaPlan, now: datetime, basis: datetime | None = None) -> None:
    """Write ESA's answer about one plan (after a start, stop or update) into its mirror row.

    `basis`: what ESA state `plan` reflects (see `mirror_basis`); by default `now`, right for the
    answer to an action received just before; a plan read from a listing passes the listing's.
    """
    plans_answered(answers=[(plan, basis or now)], now=now)


def plans_answered(*, answers: Sequence[tuple[EsaPlan, datetime]], now: datetime) -> None:
    """Write ESA's answers about plans into their mirror rows, each with its basis (see
    `mirror_basis`); an answer about a plan the mirror does not have is dropped (a listing brings
    the plan).

    The drainers' write, for every plan of a hold: so it is the shortest there is. One look at
    every row first (answers that change nothing, or are older than their row, write nothing and
    take no version); then, site by site, the site's version, which holds its row, the rows read
    again under it, one UPDATE a plan and one a job. Inside a caller's transaction (a drainer's,
    recording its steps) it joins it, with no savepoint.
    """
    newest: dict[str, tuple[EsaPlan, datetime]] = {}
    for plan, basis in answers:
        if plan.id not in newest or newest[plan.id][1] <= basis:
            newest[plan.id] = (plan, basis)
    values = {esa_id: _values(plan, Plan, PLAN_FIELDS) for esa_id, (plan, _) in newest.items()}
    news: dict[int, list[str]] = {}  # site -> plans with news
    for row in _plans_mirrored(newest):
        basis = newest[row["esa_id"]][1]
        if _based_before(basis, row, row["job__plans_esa_state_at"]):
            continue
        if _differs(row, values[row["esa_id"]]):
            news.setdefault(row["job__site_id"], []).append(row["esa_id"])
        else:
            _plan_basis_moved(row, values[row["esa_id"]], basis)
    if not news:
        return
    with transaction.atomic(savepoint=False):
        for site_id in sorted(news):  # one order for every writer of several sites: no deadlock
            try:
                version = site_version_next(site_id)
            except Site.DoesNotExist:
                continue  # the site left the mirror meanwhile, and its plans with it
            jobs: dict[int, dict[str, object]] = {}
            for row in _plans_mirrored(news[site_id]):
                plan_values, basis = values[row["esa_id"]], newest[row["esa_id"]][1]
                if not _plan_writes(row, plan_values, basis):
                    continue  # written meanwhile (rare): the version taken stamps nothing here
                Plan.objects.filter(pk=row["pk"]).update(
                    **plan_values, version=version, esa_state_at=basis, synced_at=now
                )
                stamp = jobs.setdefault(row["job_id"], {"version": version})
                # A plan moved in the order reshapes the job's list; a status may move it in or
                # out of a list filtered by status.
                if row["start_time"] != plan_values["start_time"]:
                    stamp["layout_version"] = version
                if row["status"] != plan_values["status"]:
                    stamp["statuses_version"] = version
            for job_id, stamp in jobs.items():
                Job.objects.filter(pk=job_id).update(**stamp)


def _plan_basis_moved(looked: Mapping[str, Any], values: Mapping[str, object], basis: datetime) -> None:
    """ESA said what the row shows, at a newer basis: the row's basis moves on (so that an older
    answer written after this one leaves it alone), with no version (nothing shown changes). Under
    the site's row, as every write of its plans, and only if the row still shows these values."""
    if looked["esa_state_at"] is not None and looked["esa_state_at"] >= basis:
        return
    with transaction.atomic(savepoint=False):
        if _site_lock(looked["job__site_id"]) is _GONE:
            return
        older = Q(esa_state_at__isnull=True) | Q(esa_state_at__lt=basis)
        Plan.objects.filter(older, pk=looked["pk"], **values).update(esa_state_at=basis)


def _plans_mirrored(esa_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The mirror's rows of these plans, with what a write of ESA's answers compares."""
    return list(
        Plan.objects.filter(esa_id__in=list(esa_ids)).values(
            "pk", "esa_id", "job_id", "job__site_id", "esa_state_at", "job__plans_esa_state_at", *PLAN_FIELDS
        )
    )


def _plan_writes(row: Mapping[str, Any], values: Mapping[str, object], basis: datetime) -> bool:
    """Whether ESA's `values` at `basis` are news to the mirror's `row`."""
    return not _based_before(basis, row, row["job__plans_esa_state_at"]) and _differs(row, values)


def plan_forget(*, esa_id: str) -> None:
    """Delete a plan that ESA no longer has (deleted from here), as a change of its job's list."""
    row = Plan.objects.filter(esa_id=esa_id).values("job_id", "job__site_id").first()
    if row is not None:
        job = Job(pk=row["job_id"], site_id=row["job__site_id"])
        now = timezone.now()
        _plans_write(job=job, plans=[], now=now, basis=now, forget=[esa_id])


def job_forget(*, esa_id: str, basis: datetime | None = None) -> None:
    """Delete a job that ESA no longer has (deleted from here, or found gone), with its plans,
    unless the mirror knows it at a newer `basis` (default: now, an answer just received)."""
    row = Job.objects.filter(esa_id=esa_id).values("site_id").first()
    if row is not None:
        now = timezone.now()
        _jobs_write(site=Site(pk=row["site_id"]), jobs=[], now=now, basis=basis or now, forget=[esa_id])


def job_plans_replace(
    *, job: Job, plans: Iterable[EsaPlan], now: datetime, basis: datetime | None = None
) -> None:
    """Make the mirror of `job`'s plans ESA's listing, read at `basis` (see `mirror_basis`; by
    default `now`): but for the rows the mirror knows at a newer basis."""
    _plans_write(
        job=job, plans=plans, now=now, basis=basis or now, complete=True, job_fields={"plans_synced_at": now}
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
    of the cycle: the incident's calls have the budget, and its writes the site's rows.
    """
    now = now or timezone.now()
    report = SyncReport()
    backlog = _Backlog()
    esa_sites: list[EsaSite]
    esa_sites, total = _every_page(
        lambda number: client.list_sites(page_number=number, page_size=500), report
    )
    _sites_write(esa_sites, complete=len(esa_sites) == total, now=now)
    report.sites = len(esa_sites)
    read: list[int] = []
    try:
        for site in Site.objects.all():
            if paused(site):
                report.sites_paused += 1
                continue
            try:
                _sync_site_jobs(
                    client=client, site=site, now=now, report=report, watched=watched(site), backlog=backlog
                )
            except _ESA_WIDE_ERRORS:
                raise
            except (EsaError, EsaTimeError, UnstorableValueError) as error:
                report.site_errors += 1
                logger.warning("ESA sync of site %s (%s) failed: %s", site.esa_id, site.name, error)
                _site_error_write(site, _describe(error)[:2000], now=now)
            else:
                _site_error_write(site, "", now=now)
                read.append(site.pk)
    finally:
        site_jobs_read(site_ids=read, at=now)  # also those read before a cycle cut short
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
    *,
    client: EsaClient,
    site: Site,
    now: datetime,
    report: SyncReport,
    watched: bool = False,
    backlog: _Backlog | None = None,
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
    before, removed = _jobs_write(site=site, jobs=esa_jobs.values(), now=now, basis=asked, complete=complete)
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
