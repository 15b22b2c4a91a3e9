"""A job's "Recent operations" shows what incidents did to its plans (held, resumed), linked to the
incident, in time order with the job's operations, at a fixed cost, and its poll picks a step up."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import (
    HeldPlan,
    HoldOutcome,
    Incident,
    IncidentStatus,
    ResumeAction,
    ResumeOutcome,
    StepState,
)
from prefetch_ui.incidents.services.changes import incident_version_next
from prefetch_ui.incidents.services.holds import hold_prepare, hold_request
from prefetch_ui.incidents.services.steps import step_claim, step_execute
from prefetch_ui.prefetch.models import Job, OperationKind, Plan, PlanStatus, Site
from prefetch_ui.prefetch.services.operations import operation_request
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.esa_changes import esa_says
from tests.factories import JobFactory, PlanFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
NOTHING_ASKED = "Nothing has been asked of this job"


def _job(site: Site, *, running: int = 1, waiting: int = 1) -> Job:
    job = JobFactory.create(site=site, url_count=1000, url_submitted=400)
    now = timezone.now().replace(microsecond=0)
    for index in range(running + waiting):
        PlanFactory.create(
            job=job,
            status=PlanStatus.RUNNING if index < running else PlanStatus.WAITING,
            start_time=now + timedelta(minutes=index - running * 5),
        )
    return job


def _hold(site: Site, operator: User, *, reason: str = "origin down") -> Incident:
    """A hold of the site, its steps listed, none carried out yet."""
    incident, _ = hold_request(user=operator, site=site, reason=reason)
    hold_prepare(incident_id=incident.pk)
    return incident


def _settle(held: HeldPlan) -> None:
    """What a drainer does to one step, as tests/incidents/test_incident_rules.py's `_held` does:
    ESA's answer reaches the mirror first (which moves the job's version), then the step's outcome."""
    plan = Plan.objects.select_related("job").get(esa_id=held.plan_esa_id)
    if held.hold_action == "stop":
        esa_says(plan, status=PlanStatus.STOPPED)
        held.hold_outcome = HoldOutcome.STOPPED
    else:
        parked = timezone.now().replace(microsecond=0) + timedelta(days=365)
        esa_says(plan, start_time=parked, end_time=parked + timedelta(hours=1))
        held.hold_outcome, held.parked_start, held.parked_end = HoldOutcome.PARKED, parked, parked
    held.state = StepState.DONE
    with transaction.atomic():  # as the drainer records it: under the incident's next version
        held.version = incident_version_next(incident_id=held.incident_id)
        held.save()


def _held(site: Site, operator: User) -> Incident:
    incident = _hold(site, operator)
    for held in HeldPlan.objects.filter(incident=incident):
        _settle(held)
    Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.HELD)
    return incident


def _page(client: Client, job: Job) -> str:
    response = client.get(reverse("job-detail", args=[job.esa_id]))
    assert response.status_code == 200
    return response.content.decode()


def _operations(page: str) -> str:
    start = page.index('id="job-operations"')
    return page[start : page.index("</table>", start)]


def _poll_url(body: str) -> str:
    match = re.search(r'id="job-poll"[^>]*hx-get="([^"]+)"', body)
    assert match is not None, "the page does not poll"
    return match.group(1).replace("&amp;", "&")


def test_the_job_page_lists_what_an_incident_did_to_its_plans_linked_to_the_incident(
    site: Site, operator: User, viewer_client: Client
) -> None:
    job = _job(site)
    running, waiting = Plan.objects.filter(job=job).order_by("start_time")
    assert NOTHING_ASKED in _operations(_page(viewer_client, job))
    incident = _held(site, operator)

    operations = _operations(_page(viewer_client, job))
    assert NOTHING_ASKED not in operations
    link = f'<a href="{reverse("incident-detail", args=[incident.pk])}">Hold (incident #{incident.pk})</a>'
    assert operations.count(link) == 2
    steps = re.findall(r"<tr data-incident-step=.*?</tr>", operations, flags=re.DOTALL)
    said = [re.sub(r"\s+", " ", step) for step in steps]
    assert any(f'Stopped <span class="muted">plan …{running.short_id}</span>' in step for step in said)
    assert any(
        f'Held (window moved) <span class="muted">plan …{waiting.short_id}</span>' in step for step in said
    )
    assert all(operator.username in step for step in said)


def test_a_resume_s_steps_follow_the_hold_s_and_the_job_s_operations_in_time_order(
    site: Site, operator: User, viewer_client: Client
) -> None:
    job = _job(site, waiting=0)
    (plan,) = Plan.objects.filter(job=job)
    incident = _held(site, operator)
    stopped_at = timezone.now()
    operation_request(user=operator, kind=OperationKind.JOB_RESET, target=job)  # after the hold
    later = timezone.now() + timedelta(seconds=5)
    Incident.objects.filter(pk=incident.pk).update(
        status=IncidentStatus.RESUMED, resume_requested_at=later, resumed_at=later, resumed_by=operator
    )
    HeldPlan.objects.filter(incident=incident).update(
        resume_action=ResumeAction.START, resume_outcome=ResumeOutcome.STARTED
    )
    HeldPlan.objects.filter(incident=incident).update(
        calls=[
            {
                "action": "StopScheduledPreloadExecution",
                "request_id": "R1",
                "code": "OK",
                "at": stopped_at.isoformat(),
            },
            {
                "action": "StartScheduledPreloadExecution",
                "request_id": "R2",
                "code": "OK",
                "at": later.isoformat(),
            },
        ]
    )
    operations = _operations(_page(viewer_client, job))
    order = re.findall(r"<tr data-(incident-step|operation)=\"([^\"]*)\"", operations)
    assert [kind for kind, _ in order] == ["incident-step", "operation", "incident-step"]
    assert (
        order[0][1] == f"{incident.pk}-resume-{plan.esa_id}"
        and order[2][1] == f"{incident.pk}-hold-{plan.esa_id}"
    )
    assert f"Resume (incident #{incident.pk})</a>: Started" in re.sub(r"\s+", " ", operations)


def _page_queries(client: Client, job: Job) -> int:
    with CaptureQueriesContext(connection) as queries:
        _page(client, job)
    return len(queries)


def test_the_job_page_costs_the_same_queries_for_few_steps_as_for_many(
    site: Site, operator: User, viewer_client: Client
) -> None:
    small = _job(site, running=1, waiting=1)
    large = _job(site, running=15, waiting=25)
    _held(site, operator)
    assert _page_queries(viewer_client, small) == _page_queries(viewer_client, large)
    assert _operations(_page(viewer_client, large)).count("data-incident-step=") == 10  # the most recent


def test_the_poll_brings_a_step_in_even_when_its_outcome_is_written_after_the_mirror_changed(
    site: Site, operator: User, viewer_client: Client
) -> None:
    job = _job(site, waiting=0)
    incident = _hold(site, operator)
    page = _page(viewer_client, job)
    url = _poll_url(page)
    assert "steps=" in url  # a step of an open incident is unsettled on this job's plans
    (held,) = HeldPlan.objects.filter(incident=incident)

    # The drainer's stop reaches the mirror: the row and the facts change, the step is not done yet.
    plan = Plan.objects.select_related("job").get(esa_id=held.plan_esa_id)
    esa_says(plan, status=PlanStatus.STOPPED)
    response = viewer_client.get(url, headers=HTMX)
    assert response.status_code == 200  # polling goes on: the step is still to settle
    url = _poll_url(response.content.decode())

    # Its outcome, which moves no version of the job: the operations, out of band, with the step.
    held.hold_outcome, held.state = HoldOutcome.STOPPED, StepState.DONE
    with transaction.atomic():
        held.version = incident_version_next(incident_id=incident.pk)
        held.save()
    response = viewer_client.get(url, headers=HTMX)
    body = response.content.decode()
    assert response.status_code in (200, 286) and "HX-Retarget" not in response.headers
    assert re.search(r'id="job-operations"[^>]*hx-swap-oob="true"', body)
    assert f"Hold (incident #{incident.pk})</a>" in body and NOTHING_ASKED not in body
    url = _poll_url(body)
    assert "steps=" not in url  # settled: the poll is back to one query for the job
    assert viewer_client.get(url, headers=HTMX).status_code == 204


def test_a_poll_that_finds_no_step_changed_still_gets_204_for_one_query(
    site: Site, operator: User, viewer_client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    job = _job(site)
    _hold(site, operator)
    url = _poll_url(_page(viewer_client, job))
    assert "steps=" in url
    with django_assert_num_queries(3):  # the session, the user, the job with its steps' token
        response = viewer_client.get(url, headers=HTMX)
    assert (response.status_code, response.content) == (204, b"")


def test_a_hold_s_steps_carried_out_against_esa_reach_an_open_job_page_by_its_poll(
    esa: EsaClient, operator: User, viewer_client: Client
) -> None:
    now = timezone.now().replace(microsecond=0)
    created = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Homepage", urls=[f"https://example.com/{n}.js" for n in range(500)]
    )
    esa.create_scheduled_preload_executions(
        created.id,
        [
            PlanSpec(now, now + timedelta(hours=1), 1, 2),  # running
            PlanSpec(now + timedelta(hours=2), now + timedelta(hours=3), 60, 10),  # waiting
        ],
    )
    esa_sync(client=esa)
    job = Job.objects.select_related("site").get(esa_id=created.id)
    url = _poll_url(_page(viewer_client, job))

    incident, _ = hold_request(user=operator, site=job.site, reason="origin 5xx")
    hold_prepare(incident_id=incident.pk)
    body = viewer_client.get(url, headers=HTMX).content.decode()  # the hold began: the whole region
    url = _poll_url(body)
    assert "steps=" in url and NOTHING_ASKED in body

    # A drainer's work, as incident_drain does it, one step at a time; the page polls in between.
    answers = []
    while (held := step_claim(incident_id=incident.pk, worker="worker-1")) is not None:
        step_execute(held=held, client=esa, worker="worker-1")
        response = viewer_client.get(url, headers=HTMX)
        assert response.status_code in (200, 286)
        answers.append(response)
        url = _poll_url(response.content.decode())
    stop, park = (answer.content.decode() for answer in answers)
    link = f"Hold (incident #{incident.pk})</a>"
    # The stop changed a status: the answer swaps the operations out of band, with the step.
    assert "HX-Retarget" not in answers[0].headers
    assert re.search(r'id="job-operations"[^>]*hx-swap-oob="true"', stop)
    assert stop.count(link) == 1 and "Stopped" in stop and NOTHING_ASKED not in stop
    # The park moved a plan in the order: the region is redrawn by the poll (never the page), with both.
    assert "<html" not in park and park.count(link) == 2 and "Held (window moved)" in park
    assert "steps=" not in url  # all settled: back to the one-query poll
