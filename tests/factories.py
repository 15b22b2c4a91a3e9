"""Mirror rows (sites, jobs, plans, operations) for the tests and the benchmark's data.

`create(...)` saves a row; `build(...)` makes it unsaved, for `bulk_create` (bench/data.py builds
tens of thousands that way). Defaults fill only what a row needs; a test names what it is about.
A site is the simulator's seeded example.com unless told otherwise, so a second one needs its own
`esa_id`.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Model
from django.utils import timezone
from factory.declarations import LazyAttribute, LazyFunction, Sequence, SubFactory
from factory.django import DjangoModelFactory

from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.prefetch.models import Job, Operation, OperationKind, Plan, PlanStatus, Site


def _esa_ids(first: int) -> Sequence:
    """ESA-looking ids (24 hex digits), one after the other."""
    return Sequence(lambda number: f"{first + number:024x}")


class _MirrorFactory[M: Model](DjangoModelFactory[M]):
    """A row as the sync writes it: read from ESA just now."""

    class Meta:
        abstract = True

    synced_at = LazyFunction(timezone.now)


class SiteFactory(_MirrorFactory[Site]):
    class Meta:
        model = Site

    esa_id = DEMO_SITE_ID
    name = "example.com"


class JobFactory(_MirrorFactory[Job]):
    class Meta:
        model = Job

    esa_id = _esa_ids(0x66A0_0000_0000_0000_0000_0000)
    site = SubFactory(SiteFactory)
    name = Sequence(lambda number: f"Job {number}")


class PlanFactory(_MirrorFactory[Plan]):
    class Meta:
        model = Plan

    esa_id = _esa_ids(0x66B0_0000_0000_0000_0000_0000)
    job = SubFactory(JobFactory)
    start_time = LazyFunction(timezone.now)
    end_time = LazyAttribute(lambda plan: plan.start_time + timedelta(hours=1) if plan.start_time else None)
    interval = 60
    slice_len = 10
    status = PlanStatus.WAITING


class OperationFactory(DjangoModelFactory[Operation]):
    """An operation on a plan (a new plan unless given), its job and site filled in from it.

    For a job-level operation pass `plan=None` and the `job`; for a create, `target_esa_id` is the
    form's token.
    """

    class Meta:
        model = Operation

    kind = OperationKind.PLAN_STOP
    plan = SubFactory(PlanFactory)
    job = LazyAttribute(lambda operation: operation.plan.job if operation.plan else None)
    site = LazyAttribute(lambda operation: operation.job.site if operation.job else None)
    target_esa_id = LazyAttribute(lambda operation: (operation.plan or operation.job).esa_id)
