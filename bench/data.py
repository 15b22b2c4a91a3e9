"""The data the benchmarks read: a big site, two jobs to poll, a superuser. Bulk-created, seeded.

Rows come from the tests' factories (tests/factories.py), which know what a valid row needs and
number the ESA ids; `build()` makes them unsaved, so the thousands go in with `bulk_create`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.incidents.models import (
    HeldPlan,
    HoldAction,
    HoldOutcome,
    Incident,
    IncidentStatus,
    ResumeAction,
)
from prefetch_ui.prefetch.models import Job, Operation, OperationKind, OperationStatus, Plan, PlanStatus, Site
from prefetch_ui.prefetch.services.mirror_rows import JOB_FIELDS, PLAN_FIELDS
from prefetch_ui.prefetch.services.mirror_writes import jobs_upsert, plan_answer_mirror
from tests.factories import JobFactory, OperationFactory, PlanFactory, SiteFactory

# Most plans of a long-lived site are done; a few are still going, stopped or failed.
_PLAN_STATUS_WEIGHTS = {
    PlanStatus.FINISHED: 80,
    PlanStatus.RUNNING: 6,
    PlanStatus.WAITING: 6,
    PlanStatus.STOPPED: 5,
    PlanStatus.FAILED: 3,
}
_BATCH = 2_000


@dataclass(frozen=True, slots=True)
class BenchData:
    """What the scenarios request, by the ids in their URLs."""

    user: User
    big_site_esa_id: int
    big_site_jobs: int
    big_site_plans: int
    small_job_esa_id: str
    small_job_plans: int
    large_job_esa_id: str
    large_job_plans: int
    # The large job's change version, and the one before it: since then one plan changed.
    large_job_version: int
    # The big site's change version, and the one before it: since then one job (on its first
    # page) changed.
    big_site_version: int
    # An incident resuming the plans of a job of its own on a third site, none of them resumed yet:
    # its page polls, and that job's page shows its plans held (one of them changed since the
    # version before `held_job_version`). The small and large jobs' site has no incident.
    incident_id: int
    incident_plans: int
    held_job_esa_id: str
    held_job_version: int


def _plan_status(rng: random.Random) -> PlanStatus:
    statuses = list(_PLAN_STATUS_WEIGHTS)
    return rng.choices(statuses, weights=list(_PLAN_STATUS_WEIGHTS.values()))[0]


def _plans(*, job: Job, count: int, rng: random.Random, now: datetime) -> list[Plan]:
    created = job.esa_created_at or now
    plans = []
    for index in range(count):
        start = created + timedelta(hours=index)
        plans.append(
            PlanFactory.build(
                job=job,
                start_time=start,
                end_time=start + timedelta(hours=rng.choice([1, 6, 24])),
                interval=rng.choice([60, 300, 600]),
                slice_len=rng.choice([10, 50, 100]),
                status=_plan_status(rng),
                synced_at=now,
            )
        )
    return plans


def _job(*, site: Site, index: int, rng: random.Random, now: datetime) -> Job:
    url_count = rng.randint(100, 50_000)
    done = rng.random() < 0.8
    url_submitted = url_count if done else rng.randint(0, url_count)
    return JobFactory.build(
        site=site,
        name=f"Prefetch batch {index:05d}",
        insert_way="textBox",
        task_type="preload",
        url_count=url_count,
        url_submitted=url_submitted,
        task_submitted=url_submitted,
        domains=site.name,
        # A few jobs carry ESA's complaint about URLs outside the site.
        error_info="invalid domain:cdn.other.example" if rng.random() < 0.05 else "",
        esa_created_at=now - timedelta(minutes=index * 13 + rng.randint(0, 12)),
        synced_at=now,
    )


def _operations(*, plans: list[Plan], job: Job, user: User, rng: random.Random) -> list[Operation]:
    """About one plan in ten has been acted on; a couple of those are still in flight."""
    operations = []
    for plan in plans:
        if rng.random() >= 0.1:
            continue
        status = rng.choice(
            [OperationStatus.SUCCEEDED] * 6 + [OperationStatus.FAILED] * 2 + [OperationStatus.PENDING]
        )
        failed = status == OperationStatus.FAILED
        operations.append(
            OperationFactory.build(
                kind=rng.choice([OperationKind.PLAN_STOP, OperationKind.PLAN_START]),
                status=status,
                requested_by=user,
                target_label=f"{job.name} plan",
                plan=plan,
                attempts=1 if status != OperationStatus.PENDING else 0,
                request_id="" if status == OperationStatus.PENDING else f"BENCH-{plan.esa_id[-8:]}",
                error_code="InvalidParameter" if failed else "",
                error_message="The plan is not in a state that allows this." if failed else "",
            )
        )
    operations.append(
        OperationFactory.build(
            kind=OperationKind.JOB_RESET,
            status=OperationStatus.SUCCEEDED,
            requested_by=user,
            target_label=job.name,
            plan=None,
            job=job,
            attempts=1,
            request_id=f"BENCH-{job.esa_id[-8:]}",
        )
    )
    return operations


def _poll_job(
    *, site: Site, name: str, plan_count: int, rng: random.Random, now: datetime, user: User
) -> Job:
    """A job that is still going, so its poll fragment answers 200 and keeps polling."""
    job = JobFactory.create(
        site=site,
        name=name,
        insert_way="textBox",
        task_type="preload",
        url_count=200_000,
        url_submitted=61_230,
        task_submitted=61_000,
        domains=site.name,
        esa_created_at=now - timedelta(days=2),
        synced_at=now,
        plans_synced_at=now,
    )
    plans = _plans(job=job, count=plan_count, rng=rng, now=now)
    plans[0].status = PlanStatus.RUNNING
    Plan.objects.bulk_create(plans, batch_size=_BATCH)
    plans = list(job.plans.all())
    Operation.objects.bulk_create(_operations(plans=plans, job=job, user=user, rng=rng), batch_size=_BATCH)
    return job


def bench_data_create(*, jobs: int = 10_000, plans_per_job: int = 2, seed: int = 20261121) -> BenchData:
    """Fill an empty database; the same seed gives the same rows, so runs compare."""
    rng = random.Random(seed)  # noqa: S311 - reproducible fake data, not security
    now = timezone.now()
    user = User.objects.create_superuser("bench", "bench@example.com", "bench-password-not-secret")

    big_site = SiteFactory.create(
        esa_id=DEMO_SITE_ID,
        name="bench.example.com",
        status="active",
        plan_name="enterprise",
        synced_at=now,
    )
    Job.objects.bulk_create(
        [_job(site=big_site, index=index, rng=rng, now=now) for index in range(jobs)],
        batch_size=_BATCH,
    )
    plans: list[Plan] = []
    for job in Job.objects.filter(site=big_site).iterator(chunk_size=_BATCH):
        plans.extend(_plans(job=job, count=plans_per_job, rng=rng, now=now))
    Plan.objects.bulk_create(plans, batch_size=_BATCH)
    big_site_version = _one_job_changes(big_site, now=now)

    poll_site = _basic_site(esa_id=SEED_SITES[1].site_id, name="poll.example.net", now=now)
    small_job = _poll_job(site=poll_site, name="Ten plans", plan_count=10, rng=rng, now=now, user=user)
    large_job = _poll_job(
        site=poll_site, name="A thousand plans", plan_count=1_000, rng=rng, now=now, user=user
    )
    large_job_version = _one_plan_changes(large_job, now=now)
    held_site = _basic_site(esa_id=SEED_SITES[2].site_id, name="held.example.org", now=now)
    held_job = _poll_job(
        site=held_site, name="A thousand held plans", plan_count=1_000, rng=rng, now=now, user=user
    )
    held_job_version = _one_plan_changes(held_job, now=now)
    incident_id = _resuming_incident(held_job, user=user, now=now)
    # No sync runs during the benchmark: its sites count as read all along (a last read ahead of
    # its end), so no page says the sync is behind and no poll is answered for that.
    Site.objects.update(jobs_read_at=now + timedelta(days=1))
    return BenchData(
        user=user,
        big_site_esa_id=big_site.esa_id,
        big_site_jobs=jobs,
        big_site_plans=len(plans),
        small_job_esa_id=small_job.esa_id,
        small_job_plans=10,
        large_job_esa_id=large_job.esa_id,
        large_job_plans=1_000,
        large_job_version=large_job_version,
        big_site_version=big_site_version,
        incident_id=incident_id,
        incident_plans=1_000,
        held_job_esa_id=held_job.esa_id,
        held_job_version=held_job_version,
    )


def _basic_site(*, esa_id: int, name: str, now: datetime) -> Site:
    return SiteFactory.create(esa_id=esa_id, name=name, status="active", plan_name="basic", synced_at=now)


def _resuming_incident(job: Job, *, user: User, now: datetime) -> int:
    """An incident whose hold of `job`'s plans is being lifted, none of them resumed yet: its
    page polls. Until the resume puts a plan back, the pages count it held (`holding_now`), so
    the incident has a job and a site of its own: the other jobs' pages measure jobs no incident
    touches, and `job poll, … held plans` measures one it does."""
    incident = Incident.objects.create(
        site=job.site,
        status=IncidentStatus.RESUMING,
        held_by=user,
        planned_at=now,
        hold_done_at=now,
        resumed_by=user,
        resume_requested_at=now,
    )
    HeldPlan.objects.bulk_create(
        (
            HeldPlan(
                incident=incident,
                plan=plan,
                plan_esa_id=plan.esa_id,
                job_esa_id=job.esa_id,
                site_id=job.site_id,
                label=f"{job.name} / plan …{plan.short_id}",
                original_status=plan.status,
                original_start=plan.start_time,
                original_end=plan.end_time,
                interval=plan.interval,
                slice_len=plan.slice_len,
                hold_action=HoldAction.PARK,
                hold_outcome=HoldOutcome.PARKED,
                resume_action=ResumeAction.RESTORE,
                priority=1,
            )
            for plan in job.plans.all()
        ),
        batch_size=_BATCH,
    )
    return incident.pk


def esa_job_of(job: Job, *, site_esa_id: int, **changes: object) -> EsaJob:
    """The job as ESA would list it if it held the mirror's row, with `changes` (ESA's names)."""
    values = {attribute: getattr(job, field) for field, attribute in JOB_FIELDS.items()}
    return EsaJob(**{**values, **changes}, site_id=site_esa_id)


def esa_plan_of(plan: Plan, *, job_esa_id: str, **changes: object) -> EsaPlan:
    """The plan as ESA would list it if it held the mirror's row, with `changes` (ESA's names)."""
    values = {attribute: getattr(plan, field) for field, attribute in PLAN_FIELDS.items()}
    return EsaPlan(**{**values, **changes}, job_id=job_esa_id)


def _one_job_changes(site: Site, *, now: datetime) -> int:
    """ESA moved the progress of one job on the first page of `site`, as the sync writes it;
    returns the site's version after."""
    first_page = Job.objects.filter(site=site).order_by("-esa_created_at", "-id")[:50]
    job = next(job for job in first_page if job.url_submitted < job.url_count)
    moved = job.url_submitted + 1
    jobs_upsert(
        site=site,
        jobs=[esa_job_of(job, site_esa_id=site.esa_id, url_submitted=moved, task_submitted=moved)],
        now=now,
    )
    site.refresh_from_db()
    return site.version


def _one_plan_changes(job: Job, *, now: datetime) -> int:
    """ESA changed one plan on the first page of `job` (its batch size), as the sync writes it;
    returns the job's version after."""
    plan = job.plans.order_by("start_time", "id")[4]
    plan_answer_mirror(plan=esa_plan_of(plan, job_esa_id=job.esa_id, slice_len=plan.slice_len + 1), now=now)
    job.refresh_from_db()
    return job.version
