"""Who may see and who may act, on every mutating URL; CSRF on htmx POSTs."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.prefetch.models import Operation, Plan
from tests.factories import JobFactory, OperationFactory, PlanFactory

pytestmark = pytest.mark.django_db

JOB_ID = "6650aaaaaaaaaaaaaaaaaaaa"
PLAN_ID = "6650bbbbbbbbbbbbbbbbbbbb"


@pytest.fixture
def mirrored() -> Plan:
    now = timezone.now()
    return PlanFactory.create(
        esa_id=PLAN_ID,
        job=JobFactory.create(esa_id=JOB_ID, name="Homepage", url_count=10),
        start_time=now,
        end_time=now,
        interval=60,
        slice_len=5,
        status="running",
    )


def _mutating_urls(failed_operation: Operation) -> list[str]:
    return [
        reverse("plan-action", args=[PLAN_ID, "start"]),
        reverse("plan-action", args=[PLAN_ID, "stop"]),
        reverse("plan-action", args=[PLAN_ID, "delete"]),
        reverse("plan-edit", args=[PLAN_ID]),
        reverse("job-action", args=[JOB_ID, "reset"]),
        reverse("job-action", args=[JOB_ID, "delete"]),
        reverse("hold-new") + f"?site={DEMO_SITE_ID}",
        reverse("hold-new"),
        reverse("operation-retry", args=[failed_operation.pk]),
    ]


@pytest.fixture
def failed_operation(mirrored: Plan) -> Operation:
    return OperationFactory.create(
        kind="plan_stop", status="failed", plan=mirrored, error_code="InvalidExecution.NotFound"
    )


def test_anonymous_users_are_sent_to_log_in(mirrored: Plan, failed_operation: Operation) -> None:
    anonymous = Client()
    for url in ["/", reverse("site-detail", args=[DEMO_SITE_ID]), reverse("job-detail", args=[JOB_ID])]:
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    for url in _mutating_urls(failed_operation):
        response = anonymous.post(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    assert Operation.objects.count() == 1
    assert anonymous.get("/healthz").status_code == 200


def test_read_only_users_see_everything_and_may_do_nothing(
    mirrored: Plan, failed_operation: Operation, viewer_client: Client
) -> None:
    page = viewer_client.get(reverse("job-detail", args=[JOB_ID]))
    assert page.status_code == 200
    assert b"Homepage" in page.content
    main = page.content.split(b"<main")[1]  # the header's log-out button is not an action
    for forbidden in (b"hx-post", b"Hold all", b"<button"):
        assert forbidden not in main
    site_page = viewer_client.get(reverse("site-detail", args=[DEMO_SITE_ID]))
    assert b"Hold all prefetch" not in site_page.content
    assert b"Hold all prefetch" not in viewer_client.get(reverse("home")).content
    assert viewer_client.get(reverse("hold-new")).status_code == 403
    for url in _mutating_urls(failed_operation):
        assert viewer_client.post(url, HTTP_HX_REQUEST="true").status_code == 403, url
    assert Operation.objects.count() == 1


def test_operators_may_act_on_every_url(
    mirrored: Plan, failed_operation: Operation, operator_client: Client
) -> None:
    assert b"hx-post" in operator_client.get(reverse("job-detail", args=[JOB_ID])).content
    for url in _mutating_urls(failed_operation):
        assert operator_client.post(url, HTTP_HX_REQUEST="true").status_code in (200, 302), url


def test_a_post_without_the_csrf_token_is_refused(mirrored: Plan, operator: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    url = reverse("plan-action", args=[PLAN_ID, "stop"])
    assert browser.post(url, HTTP_HX_REQUEST="true").status_code == 403
    assert not Operation.objects.exists()
    # The page hands htmx the token in hx-headers, as a browser would send it.
    page = browser.get(reverse("job-detail", args=[JOB_ID])).content.decode()
    token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    assert browser.post(url, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token).status_code == 200
    assert Operation.objects.count() == 1


def test_unknown_actions_and_targets_are_404_not_500(mirrored: Plan, operator_client: Client) -> None:
    assert operator_client.post(reverse("plan-action", args=[PLAN_ID, "explode"])).status_code == 404
    assert operator_client.post(reverse("plan-action", args=["0" * 24, "stop"])).status_code == 404
    assert operator_client.get(reverse("job-detail", args=["nope"])).status_code == 404
    assert operator_client.get(reverse("site-detail", args=[1])).status_code == 404
    assert operator_client.get(reverse("plan-action", args=[PLAN_ID, "stop"])).status_code == 405
    assert not Operation.objects.filter(kind="plan_stop", status="pending").exists()
