"""The sync spreads its backlog and gives way to an incident's fan-out.

A first mirror of a large site, and the periodic re-read of settled jobs, are backlog: each cycle
takes at most `PREFETCH_SYNC_BACKLOG_SECONDS` of the budget for them (the re-reads also about twice
a site's share of one cycle, oldest first), so no cycle is a burst that keeps the others waiting.
A site an incident's fan-out is working on is left out of the cycle until the fan-out is done.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pytest_django import Settings

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.incidents.models import HeldPlan, StepState
from prefetch_ui.incidents.selectors import fan_out_sites
from prefetch_ui.incidents.services.holds import hold_prepare, hold_request
from prefetch_ui.prefetch.models import Job, Plan, Site
from prefetch_ui.prefetch.services.sync import esa_sync

pytestmark = pytest.mark.django_db

URLS = [f"https://example.com/page/{index}" for index in range(20)]


def _settled_jobs(esa: EsaClient, count: int) -> list[str]:
    """Jobs whose one plan ran and was stopped: nothing about them changes by itself."""
    ids = []
    start = datetime.now(UTC).replace(microsecond=0)
    for index in range(count):
        job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name=f"job {index}", urls=URLS)
        (plan,) = esa.create_scheduled_preload_executions(
            job.id, [PlanSpec(start, start + timedelta(hours=1), 60, 5)]
        ).succeeded
        esa.stop_scheduled_preload_execution(plan.id)
        ids.append(job.id)
    return ids


def _read(job_esa_ids: list[str]) -> set[str]:
    return set(
        Job.objects.filter(esa_id__in=job_esa_ids, plans_synced_at__isnull=False).values_list(
            "esa_id", flat=True
        )
    )


def test_a_first_mirror_goes_on_over_cycles_of_the_backlog_allowance(
    esa: EsaClient, settings: Settings
) -> None:
    settings.PREFETCH_ESA_CALLS_PER_SECOND = 2
    settings.PREFETCH_SYNC_BACKLOG_SECONDS = 1.5  # 3 plan listings of backlog a cycle
    jobs = _settled_jobs(esa, 7)
    other_sites = len(SEED_SITES) - 1

    first = esa_sync(client=esa)
    # Every job is mirrored at once (the job pages are read in full); their plans 3 by 3.
    assert Job.objects.filter(esa_id__in=jobs).count() == 7
    assert (first.plan_listings, first.backlog_left) == (3, 4)
    assert first.esa_calls == 1 + 1 + other_sites + 3
    assert len(_read(jobs)) == 3

    second = esa_sync(client=esa)
    assert (second.plan_listings, second.backlog_left) == (3, 1)
    third = esa_sync(client=esa)
    assert (third.plan_listings, third.backlog_left) == (1, 0)
    assert _read(jobs) == set(jobs)
    assert Plan.objects.filter(job__esa_id__in=jobs).count() == 7
    # Settled and read: the next cycle reads no plans at all.
    assert esa_sync(client=esa).plan_listings == 0


def test_jobs_that_can_change_are_read_whatever_the_backlog(esa: EsaClient, settings: Settings) -> None:
    settings.PREFETCH_ESA_CALLS_PER_SECOND = 1
    settings.PREFETCH_SYNC_BACKLOG_SECONDS = 1  # one listing of backlog a cycle
    jobs = _settled_jobs(esa, 3)
    esa_sync(client=esa)
    esa_sync(client=esa)
    esa_sync(client=esa)
    assert _read(jobs) == set(jobs)
    # A plan added in the console moves ESA's count: that job is read, outside the allowance.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    (added,) = esa.create_scheduled_preload_executions(
        jobs[1], [PlanSpec(start, start + timedelta(hours=1), 60, 5)]
    ).succeeded
    report = esa_sync(client=esa)
    assert (report.plan_listings, report.backlog_left) == (1, 0)
    assert Plan.objects.filter(esa_id=added.id).exists()


def test_settled_re_reads_are_spread_oldest_first(esa: EsaClient, settings: Settings) -> None:
    settings.PREFETCH_SYNC_PERIOD = 3
    settings.PREFETCH_SETTLED_JOB_RESYNC = 21  # 7 jobs: ceil(2 * 7 * 3 / 21) = 2 re-reads a cycle
    jobs = _settled_jobs(esa, 7)
    esa_sync(client=esa)
    read_at = timezone.now() - timedelta(hours=1)
    for age, esa_id in enumerate(jobs):  # jobs[6] read longest ago
        Job.objects.filter(esa_id=esa_id).update(plans_synced_at=read_at - timedelta(minutes=age))

    report = esa_sync(client=esa)
    assert (report.plan_listings, report.backlog_left) == (2, 5)
    assert _read_since(read_at) == {jobs[6], jobs[5]}
    report = esa_sync(client=esa)
    assert (report.plan_listings, report.backlog_left) == (2, 3)
    assert _read_since(read_at) == {jobs[6], jobs[5], jobs[4], jobs[3]}


def _read_since(moment: datetime) -> set[str]:
    return set(Job.objects.filter(plans_synced_at__gt=moment).values_list("esa_id", flat=True))


def test_a_site_under_an_incident_fan_out_is_left_out_until_it_is_done(
    esa: EsaClient, operator: User
) -> None:
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="waiting", urls=URLS)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    esa.create_scheduled_preload_executions(job.id, [PlanSpec(start, start + timedelta(hours=1), 60, 5)])
    esa_sync(client=esa)
    example = Site.objects.get(esa_id=DEMO_SITE_ID)
    incident, _ = hold_request(user=operator, site=example, reason="origin down")
    # Listing its plans, then with a step to carry out: the hold is working on the site.
    assert fan_out_sites()(example)
    hold_prepare(incident_id=incident.pk)
    assert HeldPlan.objects.filter(incident=incident, state=StepState.PENDING).count() == 1
    paused = fan_out_sites()
    assert paused(example)
    assert not any(paused(site) for site in Site.objects.exclude(pk=example.pk))

    newcomer = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="newcomer", urls=URLS)
    report = esa_sync(client=esa, paused=paused)
    assert report.sites_paused == 1
    assert report.esa_calls == 1 + len(SEED_SITES) - 1  # the sites, and the other sites' job pages
    assert not Job.objects.filter(esa_id=newcomer.id).exists()

    HeldPlan.objects.filter(incident=incident).update(state=StepState.DONE)  # the fan-out is done
    report = esa_sync(client=esa, paused=fan_out_sites())
    assert report.sites_paused == 0
    assert Job.objects.filter(esa_id=newcomer.id).exists()


def test_an_every_site_fan_out_leaves_out_every_site(esa: EsaClient, operator: User) -> None:
    esa_sync(client=esa)
    hold_request(user=operator, site=None, reason="all origins down")
    report = esa_sync(client=esa, paused=fan_out_sites())
    assert report.sites_paused == len(SEED_SITES)
    assert report.esa_calls == 1  # the list of sites, and nothing else
