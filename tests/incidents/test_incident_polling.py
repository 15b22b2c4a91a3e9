"""The incident page's poll says which token it shows: nothing changed costs one query, whatever
the incident's size, and gets 204; a step claimed or settled by the drainers' own services gets
the progress and that step's row alone, swapped out of band, with a new token; a change of the
incident's status gets the whole region; and once nothing is working, 286."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.core.workers import worker_id
from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.incidents.models import HeldPlan, Incident, IncidentStatus, StepState
from prefetch_ui.incidents.services.holds import hold_prepare, hold_request
from prefetch_ui.incidents.services.steps import incident_drain, step_claim, step_execute
from prefetch_ui.prefetch.models import Plan, PlanStatus, Site
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.factories import JobFactory, PlanFactory, SiteFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def _poll_url(answer: str) -> str:
    match = re.search(r'id="incident-poll"[^>]*hx-get="([^"]+)"', answer)
    assert match is not None, "the page does not poll"
    return match.group(1).replace("&amp;", "&")


def _page(client: Client, incident: Incident) -> str:
    return client.get(reverse("incident-detail", args=[incident.pk])).content.decode()


def _holding(site: Site, operator: User, plans: int) -> Incident:
    """An incident holding the `plans` waiting plans of `site`, none of them settled yet."""
    job = JobFactory.create(site=site)
    start = timezone.now() + timedelta(hours=2)
    Plan.objects.bulk_create(
        PlanFactory.build(job=job, status=PlanStatus.WAITING, start_time=start) for _ in range(plans)
    )
    incident, _ = hold_request(user=operator, site=site, reason="")
    assert hold_prepare(incident_id=incident.pk) == plans
    return incident


def _poll_queries(client: Client, incident: Incident) -> list[str]:
    url = _poll_url(_page(client, incident))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=HTMX)
    assert (response.status_code, response.content) == (204, b"")
    return [query["sql"] for query in queries.captured_queries]


def test_a_poll_that_finds_nothing_changed_gets_204_for_the_same_few_queries_at_any_size(
    site: Site, operator: User, operator_client: Client
) -> None:
    small = _poll_queries(operator_client, _holding(site, operator, 10))
    other = SiteFactory.create(esa_id=SEED_SITES[1].site_id, name=SEED_SITES[1].site_name)
    large = _poll_queries(operator_client, _holding(other, operator, 500))
    assert len(small) == len(large) == 3, large  # the session, the user, the incident: no step
    assert not any("incidents_heldplan" in query for query in large)


def _waiting_in_esa(esa: EsaClient, count: int) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Night batch", urls=[f"https://example.com/{n}.css" for n in range(10)]
    )
    esa.create_scheduled_preload_executions(
        job.id,
        [PlanSpec(start + timedelta(minutes=n), start + timedelta(hours=3), 60, 5) for n in range(count)],
    )
    esa_sync(client=esa)


def test_a_step_the_drainers_settle_is_sent_alone_with_the_progress_then_nothing_until_the_next(
    wsgi_esa_client: EsaClient, operator: User, operator_client: Client
) -> None:
    _waiting_in_esa(wsgi_esa_client, 3)
    incident, _ = hold_request(user=operator, site=Site.objects.get(esa_id=DEMO_SITE_ID), reason="")
    hold_prepare(incident_id=incident.pk)
    page = _page(operator_client, incident)
    assert ">0 of 3<" in page
    url = _poll_url(page)
    assert operator_client.get(url, headers=HTMX).status_code == 204

    # A drainer claims a step: its row says so ("In progress"), and only its row comes.
    worker = worker_id()
    held = step_claim(incident_id=incident.pk, worker=worker)
    assert held is not None
    claimed = operator_client.get(url, headers=HTMX)
    body = claimed.content.decode()
    assert claimed.status_code == 200 and "HX-Retarget" not in claimed.headers
    assert re.findall(r'<tr id="held-(\d+)" data-held-plan="\w+" data-state="(\w+)" hx-swap-oob', body) == [
        (str(held.pk), StepState.CLAIMED)
    ]
    url = _poll_url(body)

    # ... and settles it through ESA (the simulator parks it): the new progress, the row, a new token.
    step_execute(held=held, client=wsgi_esa_client, worker=worker)
    settled = operator_client.get(url, headers=HTMX)
    body = settled.content.decode()
    assert settled.status_code == 200 and 'id="incident-live"' not in body
    assert ">1 of 3<" in body and 'id="incident-progress" hx-swap-oob="true"' in body
    assert re.findall(r'<tr id="held-(\d+)"[^>]*hx-swap-oob', body) == [str(held.pk)]
    assert "Held (window moved)" in body and "Update OK" in body  # the ESA call it made
    assert _poll_url(body) != url
    url = _poll_url(body)
    assert (operator_client.get(url, headers=HTMX).status_code, b"") == (204, b"")

    # The rest held: the incident is held, the whole region comes, and the poll stops.
    incident_drain(incident_id=incident.pk, client=wsgi_esa_client)
    assert Incident.objects.get().status == IncidentStatus.HELD
    done = operator_client.get(url, headers=HTMX)
    body = done.content.decode()
    assert done.status_code == 286
    assert (done.headers["HX-Retarget"], done.headers["HX-Reswap"]) == ("#incident-live", "outerHTML")
    assert 'data-status="held"' in body and ">3 of 3<" in body and "hx-get" not in body
    assert body.count("data-held-plan=") == 3
    assert set(HeldPlan.objects.values_list("state", flat=True)) == {StepState.DONE}
