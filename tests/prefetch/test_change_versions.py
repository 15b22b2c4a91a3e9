"""Change versions: every write that changes what a page shows stamps the site's next version on
the rows it changed, and nothing else does; a sync that finds nothing new writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import Incident, IncidentStatus
from prefetch_ui.incidents.services.holds import hold_request
from prefetch_ui.incidents.services.resumes import resume_request
from prefetch_ui.prefetch.models import Job, OperationKind, Plan, Site
from prefetch_ui.prefetch.services.changes import site_version_next
from prefetch_ui.prefetch.services.operations import operation_execute, operation_request
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.factories import JobFactory, PlanFactory

pytestmark = pytest.mark.django_db

URLS = [f"https://example.com/page/{index}" for index in range(100)]


def _versions() -> dict[str, tuple[int, ...]]:
    """Every row's versions, by ESA id."""
    rows: dict[str, tuple[int, ...]] = {}
    for site in Site.objects.all():
        rows[str(site.esa_id)] = (site.version, site.layout_version)
    for job in Job.objects.all():
        rows[job.esa_id] = (job.version, job.layout_version, job.statuses_version)
    for plan in Plan.objects.all():
        rows[plan.esa_id] = (plan.version,)
    return rows


def _window(hours_from_now: float) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours_from_now)
    return start, start + timedelta(hours=2)


def test_a_sync_that_finds_nothing_new_writes_nothing(wsgi_esa_client: EsaClient) -> None:
    esa = wsgi_esa_client
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="later", urls=URLS)
    esa.create_scheduled_preload_executions(job.id, [PlanSpec(*_window(5), 60, 10) for _ in range(3)])
    esa_sync(client=esa)
    synced = {plan.esa_id: plan.synced_at for plan in Plan.objects.all()}
    before = _versions()
    assert before[job.id][0] > 0
    esa_sync(client=esa)
    assert _versions() == before
    assert {plan.esa_id: plan.synced_at for plan in Plan.objects.all()} == synced


def test_what_esa_changed_is_stamped_on_its_rows_and_only_on_them(wsgi_esa_client: EsaClient) -> None:
    esa = wsgi_esa_client
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="sale", urls=URLS)
    first, second = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(*_window(0), 60, 10), PlanSpec(*_window(3), 60, 10)]
    ).succeeded
    esa_sync(client=esa)
    site = Site.objects.get(esa_id=DEMO_SITE_ID)
    before = _versions()

    # A status changes (as in the ESA console): the plan, its job and the site move on together.
    esa.stop_scheduled_preload_execution(first.id)
    esa_sync(client=esa)
    after = _versions()
    site.refresh_from_db()
    assert after[first.id] == (site.version,) and site.version > before[str(DEMO_SITE_ID)][0]
    assert after[second.id] == before[second.id]
    version, layout, statuses = after[job.id]
    assert (version, statuses) == (site.version, site.version)
    assert layout == before[job.id][1]  # the list of plans kept its shape
    assert Job.objects.get(esa_id=job.id).row_version < version  # and the job's own fields did not move
    assert site.layout_version == before[str(DEMO_SITE_ID)][1]  # and so did the site's list of jobs

    # A plan added reshapes the job's list; a job added reshapes the site's.
    esa.create_scheduled_preload_executions(job.id, [PlanSpec(*_window(6), 60, 10)])
    other = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="other", urls=URLS)
    esa_sync(client=esa)
    site.refresh_from_db()
    assert Job.objects.get(esa_id=job.id).layout_version > layout
    assert site.layout_version == Job.objects.get(esa_id=other.id).version
    assert _versions()[second.id] == before[second.id]


def test_an_operation_is_stamped_on_its_plan_and_job_as_it_moves(
    wsgi_esa_client: EsaClient, operator: User
) -> None:
    esa = wsgi_esa_client
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="sale", urls=URLS)
    esa.create_scheduled_preload_executions(job.id, [PlanSpec(*_window(0), 60, 10)])
    esa_sync(client=esa)
    plan = Plan.objects.select_related("job__site").get()
    stamps = []
    operation, _ = operation_request(user=operator, kind=OperationKind.PLAN_STOP, target=plan)
    stamps.append(Plan.objects.get().version)
    operation_execute(operation_id=operation.pk, client=esa)  # claimed, then succeeded
    stamps.append(Plan.objects.get().version)
    assert stamps[0] < stamps[1] == Job.objects.get().version == Site.objects.get(esa_id=DEMO_SITE_ID).version
    assert Plan.objects.get().status == "stopped"
    assert Job.objects.get().operations_version == stamps[1]


def test_a_hold_and_its_resume_change_every_row_of_the_scope(site: Site, operator: User) -> None:
    job = JobFactory.create(site=site)
    PlanFactory.create(job=job, status="finished")
    incident, _ = hold_request(user=operator, site=site, reason="")
    job.refresh_from_db()
    assert job.layout_version == job.version == Site.objects.get(pk=site.pk).version > 0
    held = job.layout_version
    Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.HELD)
    resume_request(user=operator, incident=incident, reschedule=False)
    job.refresh_from_db()
    assert job.layout_version > held


@pytest.mark.django_db(transaction=True)
def test_a_version_is_taken_only_in_the_transaction_of_its_change(site: Site) -> None:
    with pytest.raises(RuntimeError, match="transaction"):
        site_version_next(site_id=site.pk)
