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
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks, Settings

from prefetch_ui.core.workers import KEY_PREFIX
from prefetch_ui.esa import Job as EsaJob
from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.esa import PlanSpec
from prefetch_ui.prefetch.models import ACTIVE_OPERATION_STATUSES, Job, Operation, OperationStatus, Site
from prefetch_ui.prefetch.selectors import jobs as job_selectors
from prefetch_ui.prefetch.selectors import sites as site_selectors
from prefetch_ui.prefetch.services.creates import job_create_request, plans_create_request
from prefetch_ui.prefetch.services.mirror_writes import jobs_upsert, plans_upsert
from prefetch_ui.prefetch.services.operations import _operation_write
from prefetch_ui.prefetch.views import jobs as job_views
from tests.esa_changes import esa_says, job_of_plans
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
            form_token="a" * 24,
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


def test_a_create_a_live_worker_took_but_did_not_start_says_its_threads_are_busy(
    job: Job,
    operator: User,
    operator_client: Client,
    settings: Settings,
    broker: str,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0
    _create(job, operator, django_capture_on_commit_callbacks)
    connection = redis.Redis.from_url(broker)
    connection.set(f"{KEY_PREFIX}busy:1", json.dumps({"queues": ["celery"], "at": 0}), ex=60)
    connection.delete("celery")  # the worker took the message (prefetched), and runs other work
    connection.close()
    note = _note(_page(operator_client, job))
    assert "a worker takes tasks from the “celery” queue, but every one of its threads is busy" in note


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


# -- the page that "seemed frozen": a create that finished while its job's page was drawn ------------


def _finish_the_create(job: Job, operation: Operation) -> None:
    """What the worker writes when the create succeeds: the plans ESA made, then the operation."""
    start = datetime(2031, 1, 1, tzinfo=UTC)
    plans_upsert(
        job=job,
        plans=[
            EsaPlan(
                id=f"{index:024x}",
                job_id=job.esa_id,
                start_time=start + timedelta(hours=index),
                end_time=start + timedelta(hours=index + 1),
                interval=60,
                slice_len=10,
                status="waiting",
            )
            for index in range(1, 5)
        ],
        now=timezone.now(),
    )
    operation.refresh_from_db()
    _operation_write(
        operation,
        Operation.objects.filter(status__in=ACTIVE_OPERATION_STATUSES),
        status=OperationStatus.SUCCEEDED,
        finished_at=timezone.now(),
    )


def test_a_page_drawn_while_the_create_finished_polls_on_and_then_shows_the_plans(
    job: Job,
    operator: User,
    operator_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """The page reads its parts in separate queries. The create finishes between them: the plans
    are counted before they land (none), the operation is looked at after it succeeded (nothing
    under way). Read that way, nothing on the page is unfinished: on main it did not poll, and said
    "This job has no plans" (and showed the create running) until reloaded."""
    operation = _create(job, operator, django_capture_on_commit_callbacks)
    read_operations = job_selectors._recent_operations
    finished: list[bool] = []

    def the_worker_finishes_meanwhile(job_read: Job) -> list[Operation]:
        shown = read_operations(job_read)  # read before the create finished: still pending
        if not finished:
            finished.append(True)
            _finish_the_create(job, operation)
        return shown

    monkeypatch.setattr(job_selectors, "_recent_operations", the_worker_finishes_meanwhile)
    page = _page(operator_client, job)
    assert "This job has no plans." in page  # drawn half-way, as on the operator's screen
    url = _poll_url(page)
    assert re.search(r'id="job-poll"[^>]*data-poll', page), "the page does not poll"
    # Its next poll, from the version read first, gets the page as it is now.
    answer = operator_client.get(url, headers=HTMX)
    body = answer.content.decode()
    assert answer.status_code == 200
    assert body.count("data-plan=") == 4 and "This job has no plans." not in body


def test_a_poll_drawn_while_the_create_finished_does_not_stop_the_polling(
    job: Job,
    operator: User,
    operator_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """The same half-way read in a poll's answer: on main it answered 286 (stop) with the page still
    showing the create under way and no plan."""
    operation = _create(job, operator, django_capture_on_commit_callbacks)
    url = _poll_url(_page(operator_client, job))
    _operation_write(
        operation,
        Operation.objects.filter(status=OperationStatus.PENDING),
        status=OperationStatus.RUNNING,
        started_at=timezone.now(),
    )
    read_operations = job_selectors._recent_operations
    finished: list[bool] = []

    def the_worker_finishes_meanwhile(job_read: Job) -> list[Operation]:
        shown = read_operations(job_read)
        if not finished:
            finished.append(True)
            _finish_the_create(job, operation)
        return shown

    monkeypatch.setattr(job_selectors, "_recent_operations", the_worker_finishes_meanwhile)
    answer = operator_client.get(url, headers=HTMX)
    assert answer.status_code == 200  # not 286: the page polls on
    monkeypatch.undo()
    body = operator_client.get(_poll_url(answer.content.decode()), headers=HTMX).content.decode()
    assert body.count("data-plan=") == 4


def test_a_site_page_drawn_while_a_job_create_finished_polls_on_and_then_shows_the_job(
    site: Site,
    operator: User,
    operator_client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """The same half-way read on the site page, for a job create: the list of jobs read before the
    job landed, the creations under way after it did (so in neither), and the page stopped polling."""
    with django_capture_on_commit_callbacks(execute=True):
        operation, _ = job_create_request(
            user=operator,
            site=site,
            form_token="b" * 24,
            name="Landed meanwhile",
            urls=["https://example.com/a"],
        )
    read_creations = site_selectors.site_job_creations
    finished: list[bool] = []

    def the_worker_finishes_meanwhile(site_read: Site) -> list[Operation]:
        if not finished:
            finished.append(True)
            jobs_upsert(
                site=site,
                jobs=[EsaJob(id="6b" + "0" * 22, site_id=site.esa_id, name="Landed meanwhile", url_count=1)],
                now=timezone.now(),
            )
            _operation_write(
                operation,
                Operation.objects.filter(status__in=ACTIVE_OPERATION_STATUSES),
                status=OperationStatus.SUCCEEDED,
                finished_at=timezone.now(),
            )
        return read_creations(site_read)

    monkeypatch.setattr(site_selectors, "site_job_creations", the_worker_finishes_meanwhile)
    page = operator_client.get(reverse("site-detail", args=[site.esa_id])).content.decode()
    assert "Landed meanwhile" not in page  # drawn half-way
    match = re.search(r'id="jobs-poll"[^>]*hx-get="([^"]+)"', page)
    assert match is not None, "the page does not poll"
    monkeypatch.undo()
    answer = operator_client.get(match.group(1).replace("&amp;", "&"), headers=HTMX)
    # Drawn with the job (and 286: now nothing on the page is unfinished, and that is so).
    assert answer.status_code in (200, 286) and "Landed meanwhile" in answer.content.decode()


# -- New job: a job create waits on the site page -----------------------------------------------------


def _create_job(site: Site, operator: User, capture: DjangoCaptureOnCommitCallbacks) -> Operation:
    with capture(execute=True):  # sent to Redis; no worker runs
        operation, _ = job_create_request(
            user=operator, site=site, form_token="c" * 24, name="Waits", urls=["https://example.com/a"]
        )
    return operation


def _site_poll_url(body: str) -> str:
    match = re.search(r'id="jobs-poll"[^>]*hx-get="([^"]+)"', body)
    assert match is not None, "the page does not poll"
    return match.group(1).replace("&amp;", "&")


def test_a_job_create_no_worker_takes_says_so_on_the_site_page(
    site: Site,
    operator: User,
    operator_client: Client,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0
    _create_job(site, operator, django_capture_on_commit_callbacks)
    page = operator_client.get(reverse("site-detail", args=[site.esa_id])).content.decode()
    note = _note(page)
    assert note.startswith("Create job " + NOTE)
    assert "no worker is running that takes tasks from the “celery” queue" in note


def test_the_site_poll_brings_the_note_when_the_wait_passes_the_threshold_and_takes_it_away_once_started(
    site: Site,
    operator: User,
    operator_client: Client,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 3600  # not yet
    operation = _create_job(site, operator, django_capture_on_commit_callbacks)
    page = operator_client.get(reverse("site-detail", args=[site.esa_id])).content.decode()
    assert _note(page) == ""
    url = _site_poll_url(page)
    assert "wait=%40" in url  # the page says when its pending create was asked for
    assert operator_client.get(url, headers=HTMX).status_code == 204  # nothing changed, nothing due
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0  # the threshold has passed: no version moved
    answer = operator_client.get(url, headers=HTMX)
    body = answer.content.decode()
    assert answer.status_code == 200 and NOTE in _note(body) and 'hx-swap-oob="true"' in body
    url = _site_poll_url(body)
    assert operator_client.get(url, headers=HTMX).status_code == 204  # the page shows it now
    Operation.objects.filter(pk=operation.pk).update(status="running")  # a worker took it
    answer = operator_client.get(url, headers=HTMX)
    assert answer.status_code == 200 and _note(answer.content.decode()) == ""


def test_an_operation_asked_after_the_page_was_drawn_brings_its_note_on_the_next_poll(
    job: Job,
    operator: User,
    operator_client: Client,
    settings: Settings,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    """A poll that draws what changed reads the operations only when one of them changed since the
    page (its version moves): an operation asked for after the page was drawn is one."""
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 0
    page = _page(operator_client, job)
    url = _poll_url(page)
    assert _note(page) == "" and "wait=" not in url
    _create(job, operator, django_capture_on_commit_callbacks)  # no worker runs
    body = operator_client.get(url, headers=HTMX).content.decode()
    assert 'id="job-live"' not in body  # the changes, not the whole region
    assert NOTE in _note(body)
    assert "wait=" in _poll_url(body)


def test_a_poll_whose_page_shows_no_pending_operation_reads_none_when_only_a_plan_changed(
    operator_client: Client, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = job_of_plans(3, site=site, url_count=30)
    url = _poll_url(_page(operator_client, job))
    esa_says(job.plans.order_by("start_time")[0], interval=120)
    read: list[Job] = []

    def wait_read(*, job: Job) -> tuple[None, str]:
        read.append(job)
        return None, ""

    monkeypatch.setattr(job_views, "job_operation_wait", wait_read)
    body = operator_client.get(url, headers=HTMX).content.decode()
    assert "hx-swap-oob" in body and 'id="job-live"' not in body  # the changed row
    assert read == []  # no operation changed since the page: it still shows none pending
