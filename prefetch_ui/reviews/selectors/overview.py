"""The overview: every site with its totals, and the jobs in play on it, needs-attention first.

Seven queries whatever the number of sites, jobs and plans: sites with their URL totals, plans
counted by site and status, jobs in play counted by site, the active holds, the jobs in play shown
(at most `JOBS_PER_SITE` a site, ranked in SQL), their plans counted by status, and the fields of
those of their plans that will still fire. A plan an incident holds is counted as "held", whatever
ESA calls it (waiting, parked a year ahead; or stopped).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from prefetch_ui.incidents.models import HOLD_ACTIVE_STATUSES, Incident
from prefetch_ui.planning.forecast import ScheduledPlan
from prefetch_ui.prefetch.models import (
    JOBS_NEWEST_FIRST,
    PLANS_IN_TIME_ORDER,
    UNFINISHED_PLAN_STATUSES,
    Job,
    Plan,
    PlanStatus,
    Site,
)
from prefetch_ui.prefetch.selectors.estimates import scheduled_plan
from prefetch_ui.prefetch.selectors.statuses import HELD, UNFINISHED_COUNTS, plan_is_held

from .outlooks import ATTENTION_FLAGS, JobReview, hold_of, job_review, job_review_of, late_cutoff

# Jobs shown under one site; the site page has them all.
JOBS_PER_SITE = 50
# Jobs read at a time for the jobs CSV.
EXPORT_CHUNK = 500


@dataclass(slots=True)
class SiteReview:
    """A site on the overview: URL and plan totals, its hold, and its jobs in play."""

    site: Site
    job_count: int
    url_count: int
    url_submitted: int
    plan_counts: dict[str, int]
    late_plans: int
    jobs_in_play: int
    hold: Incident | None
    jobs: list[JobReview] = field(default_factory=list)

    @property
    def jobs_done(self) -> int:
        return self.job_count - self.jobs_in_play

    @property
    def jobs_not_shown(self) -> int:
        return self.jobs_in_play - len(self.jobs)

    @property
    def progress_percent(self) -> int:
        return min(100, round(100 * self.url_submitted / self.url_count)) if self.url_count else 0

    @property
    def state(self) -> str:
        """One word for the site's progress bar, as a job's is (`job_state`): `failed` (red) when a
        plan of it failed, whatever was submitted; `running` while a plan will still send or is
        held to; then `unsent` with URLs left, else `done`."""
        if self.plan_counts.get(PlanStatus.FAILED) or any(job.state == "failed" for job in self.jobs):
            return "failed"
        if self.unfinished:
            return "running"
        return "unsent" if self.url_submitted < self.url_count else "done"

    @property
    def flags(self) -> list[str]:
        found = {flag for job in self.jobs for flag in job.flags}
        if self.hold is not None:
            found.add("held")
        if self.plan_counts.get(PlanStatus.FAILED):
            found.add("failed")
        if self.late_plans and self.hold is None:
            found.add("late")
        return [flag for flag in ATTENTION_FLAGS if flag in found]

    @property
    def attention(self) -> tuple[int, ...]:
        """Higher needs a look sooner: held, then failed, late and stalled jobs, by how many."""
        return (
            int(self.hold is not None),
            *(sum(1 for job in self.jobs if flag in job.flags) for flag in ATTENTION_FLAGS[1:]),
            int(bool(self.plan_counts.get(PlanStatus.FAILED))),
            int(bool(self.late_plans)),
        )

    @property
    def finishes_at(self) -> datetime | None:
        """When the last job shown will have sent all its URLs (None when none is on its way)."""
        moments = [job.outlook.finishes_at for job in self.jobs if job.outlook.finishes_at is not None]
        return max(moments) if moments else None

    @property
    def unscheduled(self) -> int:
        """URLs of the jobs shown that no plan will submit (not counting held sites' jobs)."""
        return sum(job.outlook.unscheduled for job in self.jobs if job.hold is None)

    @property
    def unfinished(self) -> bool:
        return any(self.plan_counts.get(status) for status in UNFINISHED_COUNTS)


def _in_play() -> Q:
    """Jobs a lead still has to think about: a plan will still send or has failed, URLs are left, or
    ESA refused the job outright. A job whose URLs all went out with no failure is done."""
    live_or_failed = Plan.objects.filter(
        job=OuterRef("pk"), status__in=(*UNFINISHED_PLAN_STATUSES, PlanStatus.FAILED)
    )
    return (
        Q(Exists(live_or_failed)) | Q(url_submitted__lt=F("url_count")) | (Q(url_count=0) & ~Q(error_info=""))
    )


def _count(counts: dict[str, int], status: str, count: int) -> None:
    """Add `count` plans of `status` ("held" gathers those of several of ESA's)."""
    counts[status] = counts.get(status, 0) + count


def _ranked_jobs(sites: list[int], now: datetime) -> QuerySet[Job]:
    """The jobs in play on `sites`, at most JOBS_PER_SITE each: failed first, then late, then open."""
    failed = Exists(Plan.objects.filter(job=OuterRef("pk"), status=PlanStatus.FAILED))
    late = Exists(
        Plan.objects.filter(job=OuterRef("pk"), status=PlanStatus.WAITING, start_time__lt=late_cutoff(now))
    )
    open_plans = Exists(Plan.objects.filter(job=OuterRef("pk"), status__in=UNFINISHED_PLAN_STATUSES))
    ranked = (
        Job.objects.filter(site_id__in=sites)
        .filter(_in_play())
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("site_id"),
                order_by=[
                    failed.desc(),
                    late.desc(),
                    (~open_plans).desc(),  # settled with URLs left: stalled
                    *JOBS_NEWEST_FIRST,
                ],
            )
        )
        .filter(rank__lte=JOBS_PER_SITE)
    )
    return ranked.order_by("site_id", "rank")


def site_reviews(*, now: datetime | None = None, site_ids: list[int] | None = None) -> list[SiteReview]:
    """Every site (or those of `site_ids`, ESA ids) with its totals and its jobs in play, by name."""
    now = now or timezone.now()
    # With their limits: a job's estimate says when ESA runs nothing on its site (`site_idle`).
    sites_query = Site.objects.select_related("limits")
    if site_ids is not None:
        sites_query = sites_query.filter(esa_id__in=site_ids)
    sites = list(
        sites_query.annotate(
            job_count=Count("jobs"),
            url_count=Coalesce(Sum("jobs__url_count"), Value(0)),
            url_submitted=Coalesce(Sum("jobs__url_submitted"), Value(0)),
        ).order_by("name")
    )
    by_pk = {site.pk: site for site in sites}
    plan_counts, late_plans = _plans_counted(by="job__site_id", keys=list(by_pk), now=now)
    in_play = dict(
        Job.objects.filter(site_id__in=by_pk)
        .filter(_in_play())
        .values_list("site_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    holds = list(Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).select_related("site", "held_by"))
    reviews = {
        site.pk: SiteReview(
            site=site,
            job_count=site.job_count,
            url_count=site.url_count,
            url_submitted=site.url_submitted,
            plan_counts=plan_counts[site.pk],
            late_plans=late_plans[site.pk],
            jobs_in_play=in_play.get(site.pk, 0),
            hold=hold_of(site, holds),
        )
        for site in sites
    }
    jobs = list(_ranked_jobs(list(by_pk), now))
    for job in jobs:
        job.site = by_pk[job.site_id]  # read above, with its limits
    for reviewed in _job_reviews(jobs, now=now, holds=reviews):
        reviews[reviewed.job.site_id].jobs.append(reviewed)
    for review in reviews.values():
        # Stable: within the same flags, SQL's order (failed, late, settled, newest) stays.
        review.jobs.sort(key=lambda job: tuple(flag not in job.flags for flag in ATTENTION_FLAGS))
    return list(reviews.values())


def _plans_counted(
    *, by: str, keys: list[int], now: datetime
) -> tuple[dict[int, dict[str, int]], dict[int, int]]:
    """Plans grouped by `by` (a site's or a job's key, among `keys`), counted by status (held apart)
    in one query, and how many of each group are late; every key is present, with nothing counted."""
    counts: dict[int, dict[str, int]] = {key: {} for key in keys}
    late: dict[int, int] = dict.fromkeys(keys, 0)
    for key, status, held, count, late_count in (
        Plan.objects.filter(**{f"{by}__in": keys})
        .annotate(held=plan_is_held())
        .values_list(by, "status", "held")
        .annotate(
            count=Count("id"),
            late=Count("id", filter=Q(status=PlanStatus.WAITING, start_time__lt=late_cutoff(now))),
        )
        .order_by()
    ):
        _count(counts[key], HELD if held else status, count)
        late[key] += late_count
    return counts, late


def _job_reviews(jobs: list[Job], *, now: datetime, holds: dict[int, SiteReview]) -> list[JobReview]:
    """The reviews of `jobs` in two queries, whatever their plans: plans counted by job and status
    (and the late ones), and the fields of those that will still fire, for the forecast. A job of
    1,000 plans, most of them done, costs a few rows, not 1,000 model instances."""
    pks = [job.pk for job in jobs]
    counts, late = _plans_counted(by="job_id", keys=pks, now=now)
    scheduled: dict[int, list[ScheduledPlan]] = {pk: [] for pk in pks}
    for job_id, start, end, interval, slice_len, status in (
        Plan.objects.filter(
            job_id__in=pks,
            status__in=UNFINISHED_PLAN_STATUSES,
            start_time__isnull=False,
            end_time__isnull=False,
        )
        .order_by(*PLANS_IN_TIME_ORDER)
        .values_list("job_id", "start_time", "end_time", "interval", "slice_len", "status")
    ):
        plan = scheduled_plan(start=start, end=end, interval=interval, slice_len=slice_len, status=status)
        if plan is not None:  # as the filter says
            scheduled[job_id].append(plan)
    return [
        job_review_of(
            job=job,
            plan_counts=counts[job.pk],
            late_plans=late[job.pk],
            scheduled=scheduled[job.pk],
            now=now,
            hold=holds[job.site_id].hold,
        )
        for job in jobs
    ]


def job_reviews(*, now: datetime | None = None, site_ids: list[int] | None = None) -> Iterator[JobReview]:
    """Every job (of `site_ids`, ESA ids), reviewed, by site name then newest first (the jobs CSV).

    Read `EXPORT_CHUNK` jobs at a time with their plans: memory stays flat for any number of jobs.
    """
    now = now or timezone.now()
    holds = list(Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).select_related("site"))
    jobs = Job.objects.select_related("site__limits").order_by("site__name", "site_id", *JOBS_NEWEST_FIRST)
    if site_ids is not None:
        jobs = jobs.filter(site__esa_id__in=site_ids)
    for chunk in _chunks(jobs.iterator(chunk_size=EXPORT_CHUNK), EXPORT_CHUNK):
        plans: dict[int, list[Plan]] = {job.pk: [] for job in chunk}
        held: set[str] = set()
        for plan in (
            Plan.objects.filter(job_id__in=plans.keys())
            .annotate(held=plan_is_held())
            .order_by(*PLANS_IN_TIME_ORDER)
        ):
            plans[plan.job_id].append(plan)
            if plan.held:
                held.add(plan.esa_id)
        for job in chunk:
            yield job_review(job=job, plans=plans[job.pk], now=now, hold=hold_of(job.site, holds), held=held)


def _chunks(jobs: Iterator[Job], size: int) -> Iterator[list[Job]]:
    chunk: list[Job] = []
    for job in jobs:
        chunk.append(job)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def sort_by_attention(reviews: list[SiteReview]) -> list[SiteReview]:
    """Needs-attention first (held, failed, late, stalled, by how many jobs), then by name."""
    return sorted(reviews, key=lambda review: tuple(-n for n in review.attention))


__all__ = ["JOBS_PER_SITE", "SiteReview", "job_reviews", "site_reviews", "sort_by_attention"]
