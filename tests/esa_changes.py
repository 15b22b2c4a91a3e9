"""Mirror rows that ESA moves on, written as the sync writes them (with change versions): what a
polled page's test needs to see a change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.prefetch.models import Job, Plan, PlanStatus
from prefetch_ui.prefetch.services.mirror_writes import plan_answer_mirror
from tests.factories import JobFactory, PlanFactory

__all__ = ["esa_says", "job_of_plans"]


def job_of_plans(count: int, **job_fields: Any) -> Job:
    """A job (JobFactory's, with `job_fields`) of `count` plans an hour apart from now, the first
    running and the rest waiting, straight in the mirror."""
    job = JobFactory.create(**job_fields)
    start = timezone.now()
    Plan.objects.bulk_create(
        PlanFactory.build(
            job=job,
            start_time=start + timedelta(hours=index),
            status=PlanStatus.RUNNING if index == 0 else PlanStatus.WAITING,
        )
        for index in range(count)
    )
    return job


def esa_says(plan: Plan, **changes: object) -> None:
    """ESA's answer about the plan (a sync's, or an operation's) differs from the mirror's: so."""
    fields = {
        name: getattr(plan, name) for name in ("start_time", "end_time", "interval", "slice_len", "status")
    }
    plan_answer_mirror(
        plan=EsaPlan(id=plan.esa_id, job_id=plan.job.esa_id, **(fields | changes)), now=timezone.now()
    )
