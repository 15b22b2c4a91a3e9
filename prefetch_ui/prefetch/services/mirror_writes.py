"""The one place ESA's answers are written into the mirror: the sync's listings, and the answers to
operations and to incidents' steps.

The writers compare ESA's values with the mirror's (`mirror_rows.rows_by_esa_id`) and write only the rows that
differ and that the mirror does not know at a newer basis (`mirror_basis`), stamped with their
site's next change version (`changes.py`), under the site's row lock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.esa import Site as EsaSite

from ..models import Job, Plan, Site
from .changes import site_running_changed, site_version_next
from .mirror_rows import (
    JOB_FIELDS,
    PLAN_FIELDS,
    SITE_FIELDS,
    SITE_GONE,
    based_before,
    mirror_values,
    row_differs,
    rows_by_esa_id,
    rows_upsert,
    site_lock,
)


def jobs_upsert(*, site: Site, jobs: Iterable[EsaJob], now: datetime, basis: datetime | None = None) -> None:
    """Write ESA's view of these jobs of `site` into the mirror (only what it changed).

    `basis`: what ESA state the jobs reflect (see `mirror_basis`); by default `now`, which is right
    for ESA's answer to an action just received (a create, a reset).
    """
    jobs_write(site=site, jobs=jobs, now=now, basis=basis or now)


def jobs_write(
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
        listed_at = site_lock(site_id=site.pk)
        if listed_at is SITE_GONE:
            return {}, 0
        rows = Job.objects.filter(site=site) if complete else Job.objects.filter(esa_id__in=[*by_id, *forget])
        mirror = rows_by_esa_id(rows=rows, fields=JOB_FIELDS, extra=("plans_synced_at", "esa_state_at"))
        changed = []
        moves = False
        for job in by_id.values():
            row = mirror.get(job.id)
            if based_before(basis=basis, row=row, listed_at=listed_at) or not row_differs(
                row=row, values=mirror_values(esa_object=job, model=Job, fields=JOB_FIELDS)
            ):
                continue
            changed.append(job)
            moves = moves or _moves(row, job)
        removed = [
            row["pk"]
            for esa_id, row in mirror.items()
            if (esa_id in forget or (complete and esa_id not in by_id))
            and not based_before(basis=basis, row=row, listed_at=listed_at)
        ]
        site_fields: dict[str, object] = {}
        if complete and not based_before(basis=basis, row=None, listed_at=listed_at):
            site_fields["jobs_esa_state_at"] = basis
        if changed or removed:
            version = site_version_next(site_id=site.pk)
            stamp = {"version": version, "row_version": version, "esa_state_at": basis}
            rows_upsert(model=Job, fields=JOB_FIELDS, esa_objects=changed, now=now, stamp=stamp, site=site)
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
        if site_lock(site_id=job.site_id) is SITE_GONE:
            return
        job_row = Job.objects.filter(pk=job.pk).values("plans_esa_state_at").first()
        if job_row is None:
            return
        listed_at = job_row["plans_esa_state_at"]
        rows = Plan.objects.filter(job=job) if complete else Plan.objects.filter(esa_id__in=[*by_id, *forget])
        mirror = rows_by_esa_id(rows=rows, fields=PLAN_FIELDS, extra=("esa_state_at",))
        changed: list[EsaPlan] = []
        removed = [
            row["pk"]
            for esa_id, row in mirror.items()
            if (esa_id in forget or (complete and esa_id not in by_id))
            and not based_before(basis=basis, row=row, listed_at=listed_at)
        ]
        relaid = statuses = bool(removed)
        confirmed: list[int] = []  # rows ESA said again as they are, at a newer basis than theirs
        for plan in by_id.values():
            row = mirror.get(plan.id)
            values = mirror_values(esa_object=plan, model=Plan, fields=PLAN_FIELDS)
            if based_before(basis=basis, row=row, listed_at=listed_at):
                continue
            if not row_differs(row=row, values=values):
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
        if complete and not based_before(basis=basis, row=None, listed_at=listed_at):
            stamp["plans_esa_state_at"] = basis
        if confirmed:  # their basis moves on, with no version: nothing shown changes
            Plan.objects.filter(pk__in=confirmed).update(esa_state_at=basis)
        if changed or removed:
            version = site_version_next(site_id=job.site_id)
            rows_upsert(
                model=Plan,
                fields=PLAN_FIELDS,
                esa_objects=changed,
                now=now,
                stamp={"version": version, "esa_state_at": basis},
                job=job,
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


def plan_answer_mirror(*, plan: EsaPlan, now: datetime, basis: datetime | None = None) -> None:
    """Write ESA's answer about one plan (after a start, stop or update) into its mirror row.

    `basis`: what ESA state `plan` reflects (see `mirror_basis`); by default `now`, right for the
    answer to an action received just before; a plan read from a listing passes the listing's.
    """
    plan_answers_mirror(answers=[(plan, basis or now)], now=now)


def plan_answers_mirror(*, answers: Sequence[tuple[EsaPlan, datetime]], now: datetime) -> None:
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
    values = {
        esa_id: mirror_values(esa_object=plan, model=Plan, fields=PLAN_FIELDS)
        for esa_id, (plan, _) in newest.items()
    }
    news: dict[int, list[str]] = {}  # site -> plans with news
    for row in _plans_mirrored(newest):
        basis = newest[row["esa_id"]][1]
        if based_before(basis=basis, row=row, listed_at=row["job__plans_esa_state_at"]):
            continue
        if row_differs(row=row, values=values[row["esa_id"]]):
            news.setdefault(row["job__site_id"], []).append(row["esa_id"])
        else:
            _plan_basis_moved(row, values[row["esa_id"]], basis)
    if not news:
        return
    with transaction.atomic(savepoint=False):
        for site_id in sorted(news):  # one order for every writer of several sites: no deadlock
            try:
                version = site_version_next(site_id=site_id)
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
        if site_lock(site_id=looked["job__site_id"]) is SITE_GONE:
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
    return not based_before(basis=basis, row=row, listed_at=row["job__plans_esa_state_at"]) and row_differs(
        row=row, values=values
    )


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
        jobs_write(site=Site(pk=row["site_id"]), jobs=[], now=now, basis=basis or now, forget=[esa_id])


def job_plans_replace(
    *, job: Job, plans: Iterable[EsaPlan], now: datetime, basis: datetime | None = None
) -> None:
    """Make the mirror of `job`'s plans ESA's listing, read at `basis` (see `mirror_basis`; by
    default `now`): but for the rows the mirror knows at a newer basis."""
    _plans_write(
        job=job, plans=plans, now=now, basis=basis or now, complete=True, job_fields={"plans_synced_at": now}
    )


def sites_write(*, esa_sites: list[EsaSite], complete: bool, now: datetime) -> None:
    """New sites, changed sites (each stamped with its own next version), and, when the listing
    was complete, no more of the sites ESA no longer lists."""
    mirror = rows_by_esa_id(rows=Site.objects.all(), fields=SITE_FIELDS)
    rows_upsert(
        model=Site,
        fields=SITE_FIELDS,
        esa_objects=[site for site in esa_sites if site.site_id not in mirror],
        now=now,
    )
    for esa_site in esa_sites:
        row = mirror.get(esa_site.site_id)
        values = mirror_values(esa_object=esa_site, model=Site, fields=SITE_FIELDS)
        if row is not None and row_differs(row=row, values=values):
            with transaction.atomic():
                version = site_version_next(site_id=row["pk"])
                Site.objects.filter(pk=row["pk"]).update(**values, synced_at=now)
                if row["status"] != values["status"]:
                    site_running_changed(site_id=row["pk"], version=version)
    if complete:
        Site.objects.exclude(esa_id__in=[site.site_id for site in esa_sites]).delete()


def site_error_write(*, site: Site, error: str, now: datetime) -> None:
    """Record why the site's jobs could not be read ("" once they could), when that changed:
    `sync_error_at` is when the error began."""
    if error == site.sync_error:
        return
    with transaction.atomic():
        site_version_next(site_id=site.pk)
        Site.objects.filter(pk=site.pk).update(sync_error=error, sync_error_at=now if error else None)
