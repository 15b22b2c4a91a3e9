"""The precompiled `plan_is_held` answers as the ORM's own `Exists` does, wherever a query puts it:
annotated, filtered, negated, grouped, and inside subqueries whose own aliases it must not meet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from prefetch_ui.core.precompiled import PrecompiledCondition
from prefetch_ui.prefetch.holds import holds
from prefetch_ui.prefetch.models import Job, Plan, PlanStatus, Site
from prefetch_ui.prefetch.selectors.sites import site_job_changes, site_job_list
from prefetch_ui.prefetch.selectors.statuses import plan_is_held
from tests.factories import JobFactory, PlanFactory, SiteFactory
from tests.holds import hold_done

pytestmark = pytest.mark.django_db


def _orm_held() -> object:
    return holds().plan_held(OuterRef("esa_id"))


@pytest.fixture
def estate(operator: User) -> list[Site]:
    """Two sites of two jobs each; the first site held (its waiting plans parked, its running ones
    stopped), the second not; finished plans, which no hold touches, on both."""
    now = timezone.now()
    sites = [SiteFactory.create(esa_id=esa_id, name=f"site{esa_id}.example") for esa_id in (11, 12)]
    for site in sites:
        for _ in range(2):
            job = JobFactory.create(site=site, url_count=100)
            for index, status in enumerate([PlanStatus.WAITING, PlanStatus.RUNNING, PlanStatus.FINISHED] * 2):
                start = now + timedelta(hours=index - 1)
                PlanFactory.create(
                    job=job, status=status, start_time=start, end_time=start + timedelta(hours=2)
                )
    hold_done(user=operator, site=sites[0])
    return sites


def test_it_is_the_precompiled_expression(estate: list[Site]) -> None:
    assert isinstance(plan_is_held(), PrecompiledCondition)


def test_it_answers_as_the_orm_s_exists_in_every_shape(estate: list[Site]) -> None:
    plans = Plan.objects.order_by("pk")
    held = set(plans.filter(_orm_held()).values_list("pk", flat=True))
    assert 0 < len(held) < plans.count()

    annotated = dict(plans.annotate(held=plan_is_held()).values_list("pk", "held"))
    assert {pk for pk, is_held in annotated.items() if is_held} == held
    assert set(plans.filter(plan_is_held()).values_list("pk", flat=True)) == held
    assert set(plans.filter(~plan_is_held()).values_list("pk", flat=True)) == set(annotated) - held
    assert set(
        plans.filter(Q(plan_is_held()) | Q(status=PlanStatus.FINISHED)).values_list("pk", flat=True)
    ) == (held | set(plans.filter(status=PlanStatus.FINISHED).values_list("pk", flat=True)))

    def counts(expression: object) -> list[tuple[int, str, bool, int]]:
        return list(
            plans.annotate(held=expression)
            .values_list("job_id", "status", "held")
            .annotate(count=Count("id"))
            .order_by("job_id", "status", "held")
        )

    assert counts(plan_is_held()) == counts(_orm_held())


def test_inside_subqueries_it_reads_the_subquery_s_plan(estate: list[Site]) -> None:
    """A subquery's tables are U0, U1…, as are the precompiled condition's own: renamed, they cannot
    meet, and its outer column is the subquery's plan, not the outer query's."""
    held = set(Plan.objects.filter(_orm_held()).values_list("pk", flat=True))
    page = Plan.objects.filter(plan_is_held()).order_by("pk").values("pk")[:100]
    assert set(Plan.objects.filter(pk__in=page).values_list("pk", flat=True)) == held
    jobs_with_held = Job.objects.filter(Exists(Plan.objects.filter(plan_is_held(), job=OuterRef("pk"))))
    assert set(jobs_with_held.values_list("site__name", flat=True)) == {"site11.example"}
    # Nested twice: sites with a job with a held plan.
    sites = Site.objects.filter(
        Exists(
            Job.objects.filter(
                Exists(Plan.objects.filter(plan_is_held(), job=OuterRef("pk"))), site=OuterRef("pk")
            )
        )
    )
    assert list(sites.values_list("name", flat=True)) == ["site11.example"]


def test_the_site_page_s_poll_reads_the_same_changes_either_way(estate: list[Site]) -> None:
    """`site_job_changes` of the unfiltered list runs its two queries compiled once: the same rows,
    counts (held apart) and verdict as the ORM's, on every page and from every version."""
    for site in estate:
        jobs = site_job_list(site=site)
        for since in (0, site.version - 1, site.version):
            for page_number in (1, 2):
                compiled, built = (
                    site_job_changes(
                        site=site,
                        jobs=jobs,
                        since=since,
                        page_number=page_number,
                        per_page=1,
                        filtered=filtered,
                    )
                    for filtered in (False, True)
                )
                assert [(row.job.pk, row.plan_counts) for row in compiled.rows] == [
                    (row.job.pk, row.plan_counts) for row in built.rows
                ]
                assert compiled.unfinished == built.unfinished
    site = estate[0]
    (row,) = site_job_changes(
        site=site, jobs=site_job_list(site=site), since=0, page_number=1, per_page=1, filtered=False
    ).rows
    assert row.plan_counts.get("held")  # the held site's plans counted as held
