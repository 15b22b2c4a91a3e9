"""Change versions: what lets a polled page ask "has anything I show changed since version v?"
with one query, and be sent only the rows that did.

Each site counts its changes (`Site.version`). A transaction that changes what a page shows
takes the site's next version first, then stamps it on the rows it writes: the plans
(`Plan.version`), their job (`Job.version`, and `Job.layout_version` / `Job.statuses_version`
when the list of plans changed shape or a plan changed status) and, when the site page's list
of jobs changed shape, the site (`Site.layout_version`). Taking the version is an UPDATE of the
site's row, which holds that row until the transaction ends: a second writer of the same site
waits, so versions are handed out in the order their transactions commit, and a reader who saw
version v has seen every row stamped v or less. Every writer takes it before touching the rows
it stamps (always the site's row first), so two writers never wait on each other in a circle.

The writers are the services that already write those rows: the sync (`sync.py`, which writes
only what ESA changed), the operations (`operations.py`), the creates and the incidents' holds.
Never views or signals.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import transaction
from django.db.models import F

from ..models import Job, Plan, Site


def site_version_next(site_id: int) -> int:
    """Take the site's next change version, in the caller's transaction (which it requires)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a change version is taken in the transaction that writes the change")
    Site.objects.filter(pk=site_id).update(version=F("version") + 1)
    return Site.objects.filter(pk=site_id).values_list("version", flat=True).get()


@transaction.atomic
def change_record(
    *,
    site_id: int,
    job_ids: Collection[int] = (),
    plan_ids: Collection[int] = (),
    relaid_job_ids: Collection[int] = (),
    site_relaid: bool = False,
) -> int:
    """Stamp the site's next version on rows whose display changed although they did not.

    For what a page shows beside the mirror's own fields: an operation on a plan (`plan_ids`,
    with its job in `job_ids`) or on a job, a job being created on the site (`site_relaid`),
    a hold that changes every row of some jobs (`relaid_job_ids`). Call it in the transaction
    that writes the change, before writing it. Returns the version.
    """
    version = site_version_next(site_id)
    if plan_ids:
        Plan.objects.filter(pk__in=plan_ids).update(version=version)
    if relaid_job_ids:
        Job.objects.filter(pk__in=relaid_job_ids).update(version=version, layout_version=version)
    if job_ids:
        Job.objects.filter(pk__in=set(job_ids) - set(relaid_job_ids)).update(version=version)
    if site_relaid:
        Site.objects.filter(pk=site_id).update(layout_version=version)
    return version


@transaction.atomic
def hold_scope_changed(*, site_ids: Collection[int]) -> None:
    """A hold of these sites started or ended: every row of their jobs' pages changes (buttons)."""
    for site_id in sorted(site_ids):  # one order for every writer of several sites: no deadlock
        version = site_version_next(site_id)
        Job.objects.filter(site_id=site_id).update(version=version, layout_version=version)


__all__ = ["change_record", "hold_scope_changed", "site_version_next"]
