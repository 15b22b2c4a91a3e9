"""What an htmx request is told when it is refused: the reason in a sentence of plain text, which
static/js/app.js shows in the page's notice (htmx swaps no 4xx/5xx answer); never an HTML page,
which the notice could only call "refused". Without htmx the same refusals stay pages."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.incidents.models import Incident, IncidentStatus
from prefetch_ui.prefetch.models import Operation, OperationKind, OperationStatus, Plan, PlanStatus, Site
from tests.factories import JobFactory, OperationFactory, PlanFactory

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def plan(site: Site) -> Plan:
    """A stopped plan of a job on example.com: its Start button would send URLs."""
    job = JobFactory.create(site=site, name="Spring sale", url_count=100)
    return PlanFactory.create(
        job=job, start_time=timezone.now() + timedelta(days=1), status=PlanStatus.STOPPED
    )


def _said_in_plain_text(response: Response) -> str:
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    said = response.content.decode()
    assert "<" not in said
    return said


def test_start_on_a_held_site_answers_409_with_the_hold_in_plain_text(
    plan: Plan, operator: User, operator_client: Client
) -> None:
    incident = Incident.objects.create(site=plan.job.site, status=IncidentStatus.HOLDING, held_by=operator)
    response = operator_client.post(reverse("plan-action", args=[plan.esa_id, "start"]), headers=HTMX)
    assert response.status_code == 409
    assert _said_in_plain_text(response) == (
        f"example.com is held by incident #{incident.pk} (hold of example.com): "
        "nothing that sends URLs can start until it is resumed."
    )
    assert not Operation.objects.exists()


def test_a_retry_of_a_failed_start_on_a_held_site_answers_409_with_the_hold_and_sends_nothing(
    plan: Plan, operator: User, operator_client: Client
) -> None:
    """The Retry button of a start that failed must not start the plan on a site held meanwhile."""
    failed = OperationFactory.create(plan=plan, kind=OperationKind.PLAN_START, status=OperationStatus.FAILED)
    incident = Incident.objects.create(site=plan.job.site, status=IncidentStatus.HOLDING, held_by=operator)
    response = operator_client.post(reverse("operation-retry", args=[failed.pk]), headers=HTMX)
    assert response.status_code == 409
    assert _said_in_plain_text(response) == (
        f"example.com is held by incident #{incident.pk} (hold of example.com): "
        "nothing that sends URLs can start until it is resumed."
    )
    assert list(Operation.objects.values_list("pk", flat=True)) == [failed.pk]


def test_a_retry_of_what_succeeded_answers_409_in_plain_text(plan: Plan, operator_client: Client) -> None:
    done = OperationFactory.create(plan=plan, kind=OperationKind.PLAN_STOP, status=OperationStatus.SUCCEEDED)
    response = operator_client.post(reverse("operation-retry", args=[done.pk]), headers=HTMX)
    assert response.status_code == 409
    assert _said_in_plain_text(response) == "Only a failed operation can be retried."


@pytest.mark.parametrize("poll", [{}, {"poll": "1", "v": "1"}], ids=["page", "poll"])
def test_a_bad_page_answers_400_in_plain_text_to_htmx_and_on_a_page_otherwise(
    plan: Plan, operator_client: Client, poll: dict[str, str]
) -> None:
    url = reverse("job-detail", args=[plan.job.esa_id])
    response = operator_client.get(url, {"page": "abc", **poll}, headers=HTMX)
    assert response.status_code == 400
    assert _said_in_plain_text(response) == "Page “abc” is not a page number: pages are numbered from 1."
    page = operator_client.get(url, {"page": "abc"})
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
    assert "Page “abc” is not a page number" in page.content.decode()


def test_a_viewer_s_button_answers_403_in_plain_text(plan: Plan, viewer_client: Client) -> None:
    url = reverse("plan-action", args=[plan.esa_id, "start"])
    response = viewer_client.post(url, headers=HTMX)
    assert response.status_code == 403
    assert (
        _said_in_plain_text(response)
        == "Only operators may change prefetch jobs and plans. Nothing was changed."
    )
    page = viewer_client.post(url)
    assert page.status_code == 403 and "This account may only read" in page.content.decode()


def test_an_unknown_action_answers_404_in_plain_text(plan: Plan, operator_client: Client) -> None:
    response = operator_client.post(reverse("plan-action", args=[plan.esa_id, "explode"]), headers=HTMX)
    assert response.status_code == 404
    assert _said_in_plain_text(response).startswith("Unknown plan action “explode”. There is no page")


def test_a_body_too_large_answers_413_in_plain_text(plan: Plan, operator_client: Client) -> None:
    response = operator_client.generic(
        "POST",
        reverse("plan-edit", args=[plan.esa_id]),
        b"interval=" + b"9" * (11 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
        headers=HTMX,
    )
    assert response.status_code == 413
    assert _said_in_plain_text(response).startswith("The form sent more than 10.1 MB")


def test_a_stale_csrf_token_answers_403_in_plain_text(plan: Plan, operator: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(
        reverse("plan-action", args=[plan.esa_id, "stop"]), headers=HTMX | {"X-CSRFToken": "stale"}
    )
    assert response.status_code == 403
    assert _said_in_plain_text(response).startswith("This page is out of date")
    assert not Operation.objects.exists()
