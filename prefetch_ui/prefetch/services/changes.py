"""Change versions: what lets a polled page ask "has anything I show changed since version v?"
with one query, and be sent only the rows that did.

Each site counts its changes (`Site.version`). A transaction that changes what a page shows
takes the site's next version first, then stamps it on the rows it writes: the plans
(`Plan.version`), their job (`Job.version`, and the job's other versions for the part of its
page that changed: the list of plans' shape, a plan's status, the job's own fields, an
operation) and, when the site page's list of jobs changed shape, the site
(`Site.layout_version`). Taking the version is an UPDATE of the
site's row, which holds that row until the transaction ends: a second writer of the same site
waits, so versions are handed out in the order their transactions commit, and a reader who saw
version v has seen every row stamped v or less. Every writer takes it before touching the rows
it stamps (always the site's row first), so two writers never wait on each other in a circle.

The writers are the services that already write those rows: the sync (`mirror_writes.py`, which
writes only what ESA changed), the operations (`operations.py`), the creates and the incidents' holds.
Never views or signals.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import transaction

from prefetch_ui.core.change_counters import counter_next

from ..models import Job, Plan, Site


def site_version_next(*, site_id: int) -> int:
    """Take the site's next change version, in the caller's transaction (which it requires)."""
    return counter_next(Site, site_id)


@transaction.atomic
def operation_changes(*, site_id: int, job_id: int | None, plan_id: int | None, job_creation: bool) -> int:
    """An operation was asked for or moved on: its plan's row, its job's page (the facts and the
    operations) and, for a job being created, the site page's list show it. Call it first in the
    transaction that writes the operation's row. Returns the version."""
    version = site_version_next(site_id=site_id)
    if plan_id is not None:
        Plan.objects.filter(pk=plan_id).update(version=version)
    if job_id is not None:
        Job.objects.filter(pk=job_id).update(version=version, operations_version=version)
    if job_creation:
        Site.objects.filter(pk=site_id).update(layout_version=version)
    return version


def site_running_changed(*, site_id: int, version: int) -> None:
    """Whether ESA runs the site's plans changed (paused or resumed in ESA, or its status): its jobs'
    estimates say so (`selectors.statuses.site_idle`), so their pages send their facts again (no
    row: a plan's row does not show it). In the caller's transaction, with the site's `version`."""
    Job.objects.filter(site_id=site_id).update(version=version, row_version=version)


@transaction.atomic
def hold_scope_changed(*, site_ids: Collection[int]) -> None:
    """A hold of these sites started or ended: every row of their jobs' pages changes (buttons)."""
    for site_id in sorted(site_ids):  # one order for every writer of several sites: no deadlock
        version = site_version_next(site_id=site_id)
        Job.objects.filter(site_id=site_id).update(version=version, layout_version=version)


__all__ = ["hold_scope_changed", "operation_changes", "site_running_changed", "site_version_next"]
