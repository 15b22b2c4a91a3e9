"""An operation that waits for a worker says so on its job's page, with why (issue 20: a create that
sat unseen looked like a frozen page). No clock in the assertions: the threshold is a setting the
tests move (PREFETCH_OPERATION_WAIT_SECONDS), from "not yet" to "now"."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from prefetch_ui.core.workers import KEY_PREFIX
from prefetch_ui.esa import PlanSpec
from prefetch_ui.prefetch.models import Job, Operation, Site
from prefetch_ui.prefetch.services.creates import plans_create_request
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
NOTE = "has waited for a worker since"


@pytest.fixture
def job(site: Site) -> Job:
    return JobFactory.create(site=site, url_count=40)


def _create(
    job: Job, operator: User, capture: DjangoCaptureOnCommitCallbacks, *, sent: bool = True
) -> Operation:
    start = datetime(2031, 1, 1, tzinfo=UTC)
    with capture(execute=sent):
        operation, _ = plans_create_request(
            user=operator,
            job=job,
            form_token="t" * 32,
            plans={"r1": PlanSpec(start, start + timedelta(hours=1), 60, 10)},
        )
    return operation


def _page(client: Client, job: Job) -> str:
    return client.get(reverse("job-detail", args=[job.esa_id])).content.decode()


def _poll_url(region: str) -> str:
    match = re.search(r'id="job-poll"[^>]*hx-get="([^"]+)"', region)
    assert match is not None, "the page does not poll"
    return match.group(1).replace("&amp;", "&")


def _note(body: str) -> str:
    match = re.search(r'<div id="operation-wait"[^>]*>(.*?)</div>', body, re.S)
    assert match is not None, "no place for the note"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_a_create_no_worker_takes_says_it_waits_for_a_worker_and_why(
    job: Job,
    operator: User,
    operator_client: Client,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0
    _create(job, operator, django_capture_on_commit_callbacks)  # sent to Redis; no worker runs
    note = _note(_page(operator_client, job))
    assert NOTE in note and note.startswith("Create plans")
    assert "no worker is running that takes tasks from the “celery” queue" in note


def test_the_poll_brings_the_note_when_the_wait_passes_the_threshold_though_no_version_moved(
    job: Job,
    operator: User,
    operator_client: Client,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 3600  # not yet
    _create(job, operator, django_capture_on_commit_callbacks)
    page = _page(operator_client, job)
    assert _note(page) == ""
    url = _poll_url(page)
    assert "wait=%40" in url  # the page says when its pending operation was asked for
    assert operator_client.get(url, headers=HTMX).status_code == 204  # nothing changed, nothing due
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0  # the threshold has passed
    answer = operator_client.get(url, headers=HTMX)
    body = answer.content.decode()
    assert answer.status_code == 200
    assert NOTE in _note(body) and 'id="operation-wait"' in body and 'hx-swap-oob="true"' in body
    # The page now shows the note: asked again with its new token, nothing changed.
    assert operator_client.get(_poll_url(body), headers=HTMX).status_code == 204


def test_a_create_in_the_queue_of_a_live_but_busy_worker_says_the_workers_are_busy(
    job: Job,
    operator: User,
    operator_client: Client,
    settings: Settings,
    broker: str,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0
    # A worker that beats and consumes the queue, but takes nothing from it: all its threads are busy.
    connection = redis.Redis.from_url(broker)
    connection.set(f"{KEY_PREFIX}busy:1", json.dumps({"queues": ["celery", "incidents"], "at": 0}), ex=60)
    connection.close()
    _create(job, operator, django_capture_on_commit_callbacks)
    note = _note(_page(operator_client, job))
    assert "the workers are busy: 1 task waits in the “celery” queue, this one among them" in note


def test_a_create_the_broker_did_not_take_says_it_is_sent_again(
    job: Job,
    operator: User,
    operator_client: Client,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0
    _create(job, operator, django_capture_on_commit_callbacks, sent=False)
    assert "the message broker did not take it" in _note(_page(operator_client, job))


def test_no_note_once_a_worker_started_it(
    job: Job,
    operator: User,
    operator_client: Client,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0
    operation = _create(job, operator, django_capture_on_commit_callbacks)
    Operation.objects.filter(pk=operation.pk).update(status="running")
    assert _note(_page(operator_client, job)) == ""
