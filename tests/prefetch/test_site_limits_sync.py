"""The sync mirrors what bounds prefetch on a site (its quotas and pause, read from the simulator) and
counts the prefetch quota used today as ESA charges it (docs/limits.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries, Settings

from prefetch_ui.esa import EsaAuthError, EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SimConfig
from prefetch_ui.esa_sim.backend import Quotas
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator
from prefetch_ui.prefetch.models import Job, Site, SiteLimits
from prefetch_ui.prefetch.services.site_limits import preload_use_count
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

URLS = [f"https://example.com/quota/{index}" for index in range(100)]
QUOTA = 35


@pytest.fixture
def quota_sim(tmp_path: Path, clock: ManualClock) -> Iterator[RunningSimulator]:
    """A simulator on the test's clock where example.com may prefetch 35 URLs a day."""
    config = SimConfig(
        state_path=tmp_path / "quota.sqlite3", quotas=Quotas(preload_per_site={DEMO_SITE_ID: QUOTA})
    )
    with running_simulator(config, real_time=clock) as running:
        yield running


@pytest.fixture
def quota_esa(quota_sim: RunningSimulator) -> Iterator[EsaClient]:
    with quota_sim.client() as esa:
        yield esa


def _limits() -> SiteLimits:
    return SiteLimits.objects.get(site__esa_id=DEMO_SITE_ID)


def test_the_sync_reads_quotas_and_pause(
    quota_sim: RunningSimulator, quota_esa: EsaClient, clock: ManualClock, settings: Settings
) -> None:
    esa_sync(client=quota_esa, now=clock.moment())
    limits = _limits()
    assert (limits.preload_quota, limits.paused, limits.instance_status) == (QUOTA, False, "online")
    assert limits.instance_id == f"esa-site-{DEMO_SITE_ID}"
    assert (limits.purge_quota, limits.purge_used, limits.purge_quota_30day) == (10_000, 0, 0)
    assert limits.read_at == clock.moment() and not limits.read_error

    # Paused in the console: the next read due (a period later) shows it, and wakes the site's polls.
    quota_sim.simulator.set_site_paused(DEMO_SITE_ID, True)
    version = Site.objects.get(esa_id=DEMO_SITE_ID).version
    clock.forward(settings.PREFETCH_SYNC_LIMITS_PERIOD / 2)
    esa_sync(client=quota_esa, now=clock.moment())
    assert _limits().paused is False  # not due yet: three calls a site, every period
    clock.forward(settings.PREFETCH_SYNC_LIMITS_PERIOD / 2)
    esa_sync(client=quota_esa, now=clock.moment())
    assert _limits().paused is True
    assert Site.objects.get(esa_id=DEMO_SITE_ID).version > version


def test_a_refused_read_is_kept_with_the_last_values(tmp_path: Path, settings: Settings) -> None:
    config = SimConfig(state_path=tmp_path / "denied.sqlite3", denied_sites=frozenset({DEMO_SITE_ID}))
    with running_simulator(config) as running, running.client() as esa:
        esa_sync(client=esa)
    limits = _limits()
    assert limits.read_error.startswith("ListInstanceQuotas: InvalidUid.PermissionDenied: ")
    assert "GetPurgeQuota: InvalidUid.PermissionDenied: " in limits.read_error
    assert "GetSitePause: InvalidUid.PermissionDenied: " in limits.read_error
    assert "RequestId" in limits.read_error
    assert limits.preload_quota is None and limits.paused is None and limits.read_at is None


def test_one_refused_read_leaves_the_others(
    quota_sim: RunningSimulator, quota_esa: EsaClient, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A RAM policy without GetPurgeQuota (the simulator has no per-action policy, so the client is
    # told to refuse): the quota and the pause are read all the same.
    def refused(**_: object) -> None:
        raise EsaAuthError(
            status=403,
            code="Forbidden.RAM",
            message="You are not authorized to do this action.",
            request_id="R-1",
        )

    monkeypatch.setattr(quota_esa, "get_purge_quota", refused)
    esa_sync(client=quota_esa, now=clock.moment())
    limits = _limits()
    assert (limits.preload_quota, limits.paused, limits.purge_quota, limits.read_at) == (
        QUOTA,
        False,
        None,
        None,
    )
    assert limits.read_error == (
        "GetPurgeQuota: Forbidden.RAM: You are not authorized to do this action. (RequestId R-1)"
    )


def test_limits_reads_wait_for_the_backlog_allowance(esa: EsaClient, settings: Settings) -> None:
    # One call of backlog allowance a cycle: no site's three calls fit, and the sync says so.
    settings.PREFETCH_ESA_CALLS_PER_SECOND = 1
    settings.PREFETCH_SYNC_BACKLOG_SECONDS = 1
    report = esa_sync(client=esa)
    assert report.limits_read == 0 and report.limits_left == Site.objects.count()
    assert not SiteLimits.objects.filter(read_at__isnull=False).exists()


def test_the_count_follows_what_esa_charges(
    quota_sim: RunningSimulator, quota_esa: EsaClient, clock: ManualClock
) -> None:
    job = quota_esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="over quota", urls=URLS)
    start = clock.moment().replace(microsecond=0) + timedelta(seconds=1)
    quota_esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start + timedelta(hours=1), interval=60, slice_len=10)]
    )
    clock.forward(1)
    esa_sync(client=quota_esa, now=clock.moment())  # the first read: counting begins now
    assert (_limits().preload_used, _limits().counted_since) == (0, clock.moment())
    before = quota_sim.simulator.preload_used(DEMO_SITE_ID)

    for _ in range(6):  # six batches of 10 against a quota of 35: 25 more admitted, 35 refused
        clock.forward(60)
        esa_sync(client=quota_esa, now=clock.moment())
    used = quota_sim.simulator.preload_used(DEMO_SITE_ID)
    assert used == QUOTA
    assert _limits().preload_used == used - before


def test_a_new_day_starts_the_count_afresh(settings: Settings) -> None:
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = "Asia/Shanghai"
    midnight = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
    site = SiteFactory.create(jobs_read_at=None)
    preload_use_count(site=site, limits=None, known=0, new=7, now=midnight - timedelta(hours=2))
    assert (_count(site), _since(site)) == (0, midnight - timedelta(hours=2))  # a first read counts nothing
    preload_use_count(site=site, limits=_row(site), known=5, new=2, now=midnight - timedelta(hours=1))
    assert _count(site) == 7

    # Read a sync period before midnight, then after: the growth goes on the new day, from its start.
    site.jobs_read_at = midnight - timedelta(seconds=3)
    preload_use_count(site=site, limits=_row(site), known=4, new=0, now=midnight + timedelta(seconds=1))
    assert (_count(site), _since(site)) == (4, midnight)

    # Then a gap across the next midnight: what grew cannot be split between the days.
    site.jobs_read_at = midnight + timedelta(hours=20)
    later = midnight + timedelta(days=1, hours=2)
    preload_use_count(site=site, limits=_row(site), known=9, new=0, now=later)
    assert (_count(site), _since(site)) == (0, later)


def test_nothing_to_count_writes_nothing(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    site = SiteFactory.create()
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    preload_use_count(site=site, limits=None, known=0, new=0, now=now)
    limits = _row(site)
    with django_assert_num_queries(0):
        preload_use_count(site=site, limits=limits, known=0, new=0, now=now + timedelta(minutes=1))


def _row(site: Site) -> SiteLimits:
    return SiteLimits.objects.get(site=site)


def _count(site: Site) -> int:
    return _row(site).preload_used


def _since(site: Site) -> datetime | None:
    return _row(site).counted_since


def test_a_pause_read_by_the_sync_redraws_the_job_page_s_estimate(
    quota_sim: RunningSimulator,
    quota_esa: EsaClient,
    clock: ManualClock,
    settings: Settings,
    viewer_client: Client,
) -> None:
    """The estimate is a fact of the job, and a pause is not a change of the job: the pause read
    must still reach an open job page's poll, which asks only whether its job changed."""
    job = quota_esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="Paused later", urls=URLS)
    start = clock.moment() + timedelta(hours=1)
    quota_esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start + timedelta(hours=1), interval=60, slice_len=10)]
    )
    esa_sync(client=quota_esa, now=clock.moment())
    page = viewer_client.get(reverse("job-detail", args=[job.id])).content.decode()
    assert "All URLs sent by" in page
    poll = re.search(r'id="job-poll"[^>]*hx-get="([^"]+)"', page)
    assert poll is not None
    url = poll.group(1).replace("&amp;", "&")

    quota_sim.simulator.set_site_paused(DEMO_SITE_ID, True)
    clock.forward(settings.PREFETCH_SYNC_LIMITS_PERIOD)
    esa_sync(client=quota_esa, now=clock.moment())
    body = viewer_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "Not sending: example.com is paused in ESA, so 100 URLs wait until it is resumed there" in body
    assert "example.com is paused in ESA: ESA runs none of its plans until it is resumed" in body
    assert "All URLs sent by" not in body


def test_a_site_gone_offline_redraws_its_jobs_estimates(
    quota_sim: RunningSimulator, quota_esa: EsaClient, clock: ManualClock, viewer_client: Client
) -> None:
    job = quota_esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="Offline later", urls=URLS)
    esa_sync(client=quota_esa, now=clock.moment())
    before = Job.objects.get(esa_id=job.id)
    quota_sim.simulator.set_site_status(DEMO_SITE_ID, "offline")
    clock.forward(60)
    esa_sync(client=quota_esa, now=clock.moment())
    after = Job.objects.get(esa_id=job.id)
    # A new version for the job's facts (its estimate) and none for its plans' list.
    assert after.row_version > before.row_version and after.version > before.version
    assert after.layout_version == before.layout_version
    page = viewer_client.get(reverse("job-detail", args=[job.id])).content.decode()
    assert "example.com is offline in ESA" in page
