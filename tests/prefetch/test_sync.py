"""The mirror follows ESA: what is created, changed or deleted there (e.g. in the console) shows here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pytest_django import Settings

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES, SimConfig
from prefetch_ui.esa_sim.testing import running_simulator
from prefetch_ui.prefetch.models import Job, Plan, Site
from prefetch_ui.prefetch.services.site_limits import LIMITS_READ_CALLS
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

URLS = [f"https://example.com/page/{index}" for index in range(100)]


def _window(hours_from_now: float, length_hours: float = 2) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours_from_now)
    return start, start + timedelta(hours=length_hours)


def test_sync_adds_updates_and_removes(esa: EsaClient) -> None:
    running_job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="running", urls=URLS)
    (running_plan,) = esa.create_scheduled_preload_executions(
        running_job.id, [PlanSpec(*_window(0), interval=60, slice_len=10)]
    ).succeeded
    doomed = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="doomed", urls=URLS)
    esa.create_scheduled_preload_executions(doomed.id, [PlanSpec(*_window(5), interval=60, slice_len=10)])

    esa_sync(client=esa)
    assert sorted(Site.objects.values_list("name", flat=True)) == sorted(
        site.site_name for site in SEED_SITES
    )
    assert set(Job.objects.values_list("name", flat=True)) == {"running", "doomed"}
    mirrored = Plan.objects.get(esa_id=running_plan.id)
    assert (mirrored.status, mirrored.interval, mirrored.slice_len, mirrored.job.esa_id) == (
        "running",
        60,
        10,
        running_job.id,
    )
    assert Job.objects.get(esa_id=running_job.id).url_submitted == 10

    # Changes made outside prefetch_ui, as in the ESA console:
    esa.stop_scheduled_preload_execution(running_plan.id)
    esa.delete_scheduled_preload_job(doomed.id)
    newcomer = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="newcomer", urls=URLS[:5])
    (new_plan,) = esa.create_scheduled_preload_executions(
        newcomer.id, [PlanSpec(*_window(1), interval=30, slice_len=5)]
    ).succeeded

    esa_sync(client=esa)
    assert Plan.objects.get(esa_id=running_plan.id).status == "stopped"
    assert not Job.objects.filter(esa_id=doomed.id).exists()
    assert not Plan.objects.filter(job__esa_id=doomed.id).exists()
    assert Plan.objects.get(esa_id=new_plan.id).job.name == "newcomer"


def test_plans_added_outside_to_a_settled_job_appear(esa: EsaClient) -> None:
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="settled", urls=URLS)
    # Running from now, then stopped (ESA stops only a running plan).
    (plan,) = esa.create_scheduled_preload_executions(job.id, [PlanSpec(*_window(0), 60, 10)]).succeeded
    esa.stop_scheduled_preload_execution(plan.id)
    esa_sync(client=esa)
    (added,) = esa.create_scheduled_preload_executions(job.id, [PlanSpec(*_window(4), 60, 10)]).succeeded
    esa_sync(client=esa)  # ESA's ExecutionCount changed, so the plans are read again
    assert set(Plan.objects.filter(job__esa_id=job.id).values_list("esa_id", flat=True)) == {
        plan.id,
        added.id,
    }


def test_a_site_removed_from_esa_disappears(esa: EsaClient) -> None:
    esa_sync(client=esa)
    SiteFactory.create(esa_id=1, name="gone.example")
    esa_sync(client=esa)
    assert not Site.objects.filter(esa_id=1).exists()


def test_esa_calls_per_cycle_are_sites_plus_job_pages_plus_active_jobs(
    esa: EsaClient, settings: Settings
) -> None:
    settings.PREFETCH_SYNC_JOB_PAGE_SIZE = 2
    active = []
    for index in range(5):
        job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name=f"job {index}", urls=URLS)
        # The ones to settle run from now, so that they can be stopped.
        window = _window(2 if index < 2 else 0)
        (plan,) = esa.create_scheduled_preload_executions(job.id, [PlanSpec(*window, 60, 10)]).succeeded
        if index < 2:
            active.append(job.id)
        else:
            esa.stop_scheduled_preload_execution(plan.id)  # settled: nothing will change by itself

    first = esa_sync(client=esa)
    other_sites = len(SEED_SITES) - 1
    # 1 ListSites + 3 job pages of example.com + 1 page for each other site, + every job once,
    # + each site's limits (quotas, pause), read once a PREFETCH_SYNC_LIMITS_PERIOD.
    sites = other_sites + 1
    assert first.esa_calls == 1 + 3 + other_sites + 5 + sites * LIMITS_READ_CALLS
    second = esa_sync(client=esa)
    # Now only the two jobs with a waiting plan are read again, and no limits.
    assert second.esa_calls == 1 + 3 + other_sites + len(active)
    assert second.jobs == 5
    assert Job.objects.count() == 5


SHOP = SEED_SITES[1].site_id  # shop.example.net


def test_a_site_esa_refuses_keeps_its_error_and_the_others_sync(tmp_path: Path) -> None:
    state = tmp_path / "sim.sqlite3"
    with running_simulator(SimConfig(state_path=state)) as sim, sim.client() as client:
        client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="on example", urls=URLS)
        client.create_scheduled_preload_job(site_id=SHOP, name="on shop", urls=["https://shop.example.net/a"])
    with running_simulator(SimConfig(state_path=state, denied_sites=frozenset({SHOP}))) as sim:
        with sim.client() as client:
            report = esa_sync(client=client)
        assert report.site_errors == 1
        shop = Site.objects.get(esa_id=SHOP)
        assert shop.sync_error.startswith("InvalidUid.PermissionDenied: ")
        assert "RequestId" in shop.sync_error and shop.sync_error_at is not None
        # The sites after the refused one (by name) are synced all the same.
        assert set(Job.objects.values_list("name", flat=True)) == {"on example"}
        assert Site.objects.get(esa_id=DEMO_SITE_ID).sync_error == ""
        assert Site.objects.get(name="static.example.org").synced_at is not None
    with running_simulator(SimConfig(state_path=state)) as sim, sim.client() as client:
        assert esa_sync(client=client).site_errors == 0
    assert Site.objects.filter(esa_id=SHOP, sync_error="", sync_error_at=None).exists()
    assert set(Job.objects.values_list("name", flat=True)) == {"on example", "on shop"}


def test_a_time_esa_sends_in_a_shape_the_client_refuses_fails_that_site_only(tmp_path: Path) -> None:
    with running_simulator(SimConfig(state_path=tmp_path / "sim.sqlite3")) as sim:
        with sim.client() as client:
            client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="fine", urls=URLS)
            client.create_scheduled_preload_job(site_id=SHOP, name="odd", urls=["https://shop.example.net/a"])

        simulator = httpx.WSGITransport(app=sim.simulator)

        def odd_times(request: httpx.Request) -> httpx.Response:
            # The simulator answers; only the shop's job listing comes back with a time we cannot read.
            response = simulator.handle_request(request)
            response.read()
            if request.headers["x-acs-action"] == "ListScheduledPreloadJobs" and str(SHOP) in str(
                request.url
            ):
                body = response.json()
                body["Jobs"][0]["CreatedAt"] = "last Tuesday"
                return httpx.Response(200, json=body)
            return response

        with EsaClient(
            endpoint="http://esa.test",
            access_key_id=sim.access_key_id,
            access_key_secret=sim.access_key_secret,
            transport=httpx.MockTransport(odd_times),
        ) as client:
            assert esa_sync(client=client).site_errors == 1
    assert "cannot read" in Site.objects.get(esa_id=SHOP).sync_error
    assert set(Job.objects.values_list("name", flat=True)) == {"fine"}


def test_values_a_database_could_not_keep_as_esa_sends_them(tmp_path: Path) -> None:
    """PostgreSQL refuses a NUL in text, text longer than its column and numbers out of its range,
    which SQLite all keeps: the mirror holds the same on both, and the sync never crashes on them."""
    static = SEED_SITES[2].site_id
    with running_simulator(SimConfig(state_path=tmp_path / "sim.sqlite3")) as sim:
        with sim.client() as client:
            created = client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="job", urls=URLS)
            client.create_scheduled_preload_executions(created.id, [PlanSpec(*_window(1), 60, 10)])
            client.create_scheduled_preload_job(site_id=SHOP, name="job", urls=["https://shop.example.net/a"])
            client.create_scheduled_preload_job(
                site_id=static, name="job", urls=["https://static.example.org/a"]
            )
        simulator = httpx.WSGITransport(app=sim.simulator)

        def odd_values(request: httpx.Request) -> httpx.Response:
            response = simulator.handle_request(request)
            response.read()
            body = response.json()
            action = request.headers["x-acs-action"]
            if action == "ListSites":
                body["Sites"][0]["PlanName"] = "p" * 300
            elif action == "ListScheduledPreloadJobs" and f"SiteId={DEMO_SITE_ID}" in str(request.url):
                body["Jobs"][0] |= {"Name": "Spring\x00sale " + "x" * 300, "ErrorInfo": "bad\x00host"}
            elif action == "ListScheduledPreloadJobs" and f"SiteId={SHOP}" in str(request.url):
                body["Jobs"][0]["UrlCount"] = 2**31  # more than an integer column holds
            elif action == "ListScheduledPreloadJobs" and f"SiteId={static}" in str(request.url):
                body["Jobs"][0]["Id"] += "-and-then-some"  # an id longer than its column
            elif action == "ListScheduledPreloadExecutions":
                body["Executions"] = [plan | {"Status": "waiting\x00"} for plan in body["Executions"]]
            return httpx.Response(response.status_code, json=body)

        with EsaClient(
            endpoint="http://esa.test",
            access_key_id=sim.access_key_id,
            access_key_secret=sim.access_key_secret,
            transport=httpx.MockTransport(odd_values),
        ) as client:
            report = esa_sync(client=client)
    assert report.site_errors == 2
    job = Job.objects.get(site__esa_id=DEMO_SITE_ID)
    assert job.name == "Spring\ufffdsale " + "x" * 242 + "…" and len(job.name) == 255
    assert job.error_info == "bad\ufffdhost"
    assert list(job.plans.values_list("status", flat=True)) == ["waiting\ufffd"]
    assert all(len(site.plan_name) <= 64 for site in Site.objects.all())
    assert "…" in "".join(Site.objects.values_list("plan_name", flat=True))
    for site_id, what in ((SHOP, "url_count of 2147483648"), (static, "esa_id of 38 characters")):
        error = Site.objects.get(esa_id=site_id).sync_error
        assert what in error and "cannot store it" in error, error
    assert not Job.objects.filter(site__esa_id__in=(SHOP, static)).exists()
