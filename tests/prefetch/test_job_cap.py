"""The job cap ESA does not publish, learned from its refusal of one job more
(InvalidJob.JobCountOfSiteFull), and said in words on the site page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_SITE_ID, Limits, SimConfig
from prefetch_ui.esa_sim.testing import RunningSimulator, running_simulator
from prefetch_ui.prefetch.models import Operation, Site
from prefetch_ui.prefetch.selectors.job_cap import site_job_cap
from prefetch_ui.prefetch.services.creates import job_create_request
from prefetch_ui.prefetch.services.operations import operation_execute
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.factories import OperationFactory

pytestmark = pytest.mark.django_db(transaction=True)

CAP = 2


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[tuple[RunningSimulator, EsaClient]]:
    config = SimConfig(state_path=tmp_path / "capped.sqlite3", limits=Limits(max_jobs_per_site=CAP))
    with running_simulator(config) as sim, sim.client() as client:
        yield sim, client


def _create(operator: User, site: Site, client: EsaClient, token: str) -> Operation:
    operation, _ = job_create_request(
        user=operator, site=site, form_token=token, name=f"job {token[0]}", urls=["https://example.com/a"]
    )
    operation_execute(operation_id=operation.pk, client=client)
    operation.refresh_from_db()
    return operation


def test_a_refused_create_teaches_the_cap_and_the_site_page_says_it(
    capped: tuple[RunningSimulator, EsaClient], operator: User, operator_client: Client
) -> None:
    sim, client = capped
    esa_sync(client=client)
    site = Site.objects.get(esa_id=DEMO_SITE_ID)
    assert site_job_cap(site=site) is None  # never refused: nothing known
    for token in ("a" * 24, "b" * 24):
        assert _create(operator, site, client, token).status == "succeeded"

    refused = _create(operator, site, client, "c" * 24)
    assert (refused.status, refused.error_code) == ("failed", "InvalidJob.JobCountOfSiteFull")
    assert refused.result["site_job_count"] == CAP  # ESA's count when it refused
    cap = site_job_cap(site=site)
    assert cap is not None and (cap.cap, cap.jobs_now, cap.room) == (CAP, CAP, 0)
    assert cap.learned_at == refused.finished_at

    page = operator_client.get(reverse("site-detail", args=[DEMO_SITE_ID])).content.decode()
    assert f"ESA holds at most {CAP} jobs on this site (learned when it refused one at {CAP} jobs, " in page
    assert "delete finished jobs to make room. It has 2 now." in page

    # A job deleted in ESA: once the mirror has read it, the page counts the room it made.
    first = client.list_scheduled_preload_jobs(site_id=DEMO_SITE_ID).items[-1]
    client.delete_scheduled_preload_job(first.id)
    esa_sync(client=client)
    page = operator_client.get(reverse("site-detail", args=[DEMO_SITE_ID])).content.decode()
    assert "It has 1 now: room for 1 more." in page
    assert len(sim.calls("CreateScheduledPreloadJob")) == 3


def test_a_refusal_recorded_without_a_count_still_says_what_to_do(
    site: Site, operator_client: Client
) -> None:
    # A create refused before counts were recorded (or by an ESA answer in other words).
    OperationFactory.create(
        kind="job_create",
        status="failed",
        target_esa_id="d" * 24,
        target_label="Spring sale",
        plan=None,
        site=site,
        error_code="InvalidJob.JobCountOfSiteFull",
        error_message="The maximum number of prefetch tasks for the website has been reached.",
    )
    assert site_job_cap(site=site) is None
    page = operator_client.get(reverse("site-detail", args=[site.esa_id])).content.decode()
    assert "ESA holds no more jobs on this site: delete finished jobs to make room." in page
