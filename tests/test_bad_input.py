"""Bad input on every form and endpoint: a specific refusal, and nothing changed anywhere.

The product rule: bad input gets a clear, specific error and changes nothing; never a 500, never
half-created state, never a silently dropped or altered value, never a lost operator action.

Each case is one request that a person (or a script, or a tampered form) could send. For each, the
test checks the status, the message the answer carries (a form error, page text, a flash message,
or the `Allow` header of a 405), and then that nothing changed: every table of every app has the
same rows with the same content, no Celery task was sent (so no Operation waits for ESA), and no
NUL byte reached a query (SQLite stores one; PostgreSQL answers it with an error, a 500).

An operator sends them, so that permission is never what refuses them, except where the point is
the viewer or the person without a session. What the form tests already prove message by message
(tests/prefetch/test_new_job.py, test_plan_builder.py, test_plan_edit.py, tests/reviews/…) is not
repeated here, except for one case per form to prove that those refusals change nothing anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from celery.signals import before_task_publish
from django.apps import apps
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks

from prefetch_ui.incidents.models import Incident, IncidentStatus
from prefetch_ui.prefetch.models import OperationKind, OperationStatus, PlanStatus
from prefetch_ui.web.display_zone import SESSION_KEY
from tests.factories import JobFactory, OperationFactory, PlanFactory, SiteFactory

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

HELD_SITE = 9_100_000_000_001  # shop.example.net, held by an incident still being applied
JOB = "66a0000000000000000000a1"
PLAN = "66b0000000000000000000b1"  # waiting, ten days ahead
RUNNING = "66b0000000000000000000b2"
CREATED_TOKEN = "0123456789abcdef0123abcd"  # a new-job form whose job was created
HTMX = {"HX-Request": "true"}
FUTURE_START, FUTURE_END = "2031-03-01T09:00", "2031-03-01T10:00"

# -- the estate every case is sent against ----------------------------------------------------------


@pytest.fixture
def estate(operator: User) -> dict[str, object]:
    """A site with a job, a waiting and a running plan and their history; a second site on hold.

    Returns the ids the cases' paths name ({site}, {job}, {held_incident}…).
    """
    site = SiteFactory.create()
    held_site = SiteFactory.create(esa_id=HELD_SITE, name="shop.example.net")
    job = JobFactory.create(esa_id=JOB, site=site, name="Spring sale", url_count=1000, url_submitted=100)
    now = timezone.now()
    PlanFactory.create(esa_id=PLAN, job=job, start_time=now + timedelta(days=10), status=PlanStatus.WAITING)
    running = PlanFactory.create(
        esa_id=RUNNING, job=job, start_time=now - timedelta(hours=1), status=PlanStatus.RUNNING
    )
    stopped = OperationFactory.create(
        plan=running, kind=OperationKind.PLAN_STOP, status=OperationStatus.SUCCEEDED, requested_by=operator
    )
    created = OperationFactory.create(
        kind=OperationKind.JOB_CREATE,
        plan=None,
        job=None,
        site=site,
        target_esa_id=CREATED_TOKEN,
        target_label="Spring sale",
        status=OperationStatus.SUCCEEDED,
        requested_by=operator,
    )
    refused = OperationFactory.create(
        kind=OperationKind.JOB_CREATE,
        plan=None,
        job=None,
        site=site,
        target_esa_id="f" * 24,
        target_label="Refused",
        status=OperationStatus.FAILED,
        error_code="InvalidParameter",
        requested_by=operator,
    )
    holding = Incident.objects.create(site=held_site, status=IncidentStatus.HOLDING, held_by=operator)
    resumed = Incident.objects.create(
        site=site, status=IncidentStatus.RESUMED, held_by=operator, resumed_by=operator
    )
    return {
        "site": site.esa_id,
        "held_site": held_site.esa_id,
        "job": JOB,
        "plan": PLAN,
        "running": RUNNING,
        "succeeded_op": stopped.pk,
        "created_op": created.pk,
        "refused_create_op": refused.pk,
        "holding_incident": holding.pk,
        "resumed_incident": resumed.pk,
    }


# -- what "nothing changed" means -------------------------------------------------------------------


# The login throttle's own record of failed logins (django-axes): a refused login is counted there on
# purpose, since counting it is what throttles the next one. Every other table must stay as it was.
_COUNTS_FAILED_LOGINS = frozenset({"axes"})


def _tables() -> dict[str, tuple[int, str]]:
    """Every table of every app (auth, sessions, admin's log and ours): its row count and rows' hash."""
    state = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label in _COUNTS_FAILED_LOGINS:
            continue
        rows = list(model._default_manager.order_by("pk").values_list())
        state[model._meta.db_table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return state


@pytest.fixture
def published() -> Iterator[list[str]]:
    """The names of the Celery tasks sent while the test runs."""
    sent: list[str] = []

    def record(sender: str | None = None, **_: object) -> None:
        sent.append(str(sender))

    before_task_publish.connect(record, weak=False)
    yield sent
    before_task_publish.disconnect(record)


@pytest.fixture
def nul_queries() -> Iterator[list[str]]:
    """The queries that carried a NUL byte in a parameter (PostgreSQL refuses them with an error)."""
    seen: list[str] = []

    def watch(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: object) -> Any:
        for value in (params or ()) if not many else (value for row in params for value in row):
            if isinstance(value, str) and "\x00" in value:
                seen.append(f"{sql} {params!r}")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        yield seen


# -- the cases --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bad:
    """One bad request and the refusal it must get."""

    method: str
    path: str  # may name the estate's ids: "/jobs/{job}/", "/incidents/{holding_incident}/resume/"
    status: int
    says: str  # found in the page, the text, a flash message or the Allow header
    data: Mapping[str, object] | None = None  # the query of a GET, the form of a POST
    who: str = "operator"  # or "viewer", or "anonymous"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None  # a raw body, sent with `content_type`
    content_type: str = "application/x-www-form-urlencoded"
    zone: str = ""  # the display zone the sender chose, when not the default (Asia/Shanghai)


def _edit(**fields: object) -> dict[str, object]:
    """The plan editor's form: a valid change of the waiting plan, with `fields` changed."""
    return {"start_time": FUTURE_START, "end_time": FUTURE_END, "interval": "60", "slice_len": "10"} | fields


def _batch(**fields: object) -> dict[str, object]:
    """The builder submitting one valid row, a1, with `fields` changed."""
    return {
        "zone": "UTC",
        "form_token": "e" * 24,
        "row": ["a1"],
        "start-a1": FUTURE_START,
        "end-a1": FUTURE_END,
        "interval-a1": "60",
        "slice_len-a1": "10",
        "action": "submit",
    } | fields


def _generate(**fields: object) -> dict[str, object]:
    """The builder's generator spreading the job's URLs over a valid window, with `fields` changed."""
    return (
        _batch(
            row=[],
            action="generate",
            gen_mode="spread",
            gen_start=FUTURE_START,
            gen_end=FUTURE_END,
            gen_plans="3",
            gen_interval="60",
        )
        | fields
    )


def _new_job(**fields: object) -> dict[str, object]:
    """The new-job form with one valid URL and a fresh token, with `fields` changed."""
    return {
        "form_token": "abcdef0123456789abcdef01",
        "name": "Autumn sale",
        "source": "text",
        "urls_text": "https://example.com/a.js",
    } | fields


NOT_FOUND = "There is no page at this address"
READ_ONLY = "This account may only read"

CASES = [
    # -- the sites list and a site's page
    pytest.param(Bad("post", "/", 405, "Allow: GET"), id="sites list: POST instead of GET"),
    pytest.param(Bad("get", "/sites/abc/", 404, NOT_FOUND), id="site id not a number"),
    pytest.param(Bad("get", "/sites/١٢٣/", 404, NOT_FOUND), id="site id in Arabic-Indic digits"),
    pytest.param(Bad("get", "/sites/" + "9" * 30 + "/", 404, NOT_FOUND), id="site id past 64 bits"),
    pytest.param(
        Bad("get", "/sites/{site}/", 200, "From “2026-02-30” is not a date", {"created_from": "2026-02-30"}),
        id="site filter: a day that does not exist",
    ),
    pytest.param(
        Bad(
            "get",
            "/sites/{site}/",
            200,
            "The name contains a NUL character; it was ignored.",
            {"name": "sale\x00"},
        ),
        id="site filter: NUL in the name",
    ),
    pytest.param(
        Bad("get", "/sites/{site}/", 400, "“page” was sent 2 times", {"page": ["1", "2"]}),
        id="site page: page given twice",
    ),
    pytest.param(
        Bad("get", "/sites/{site}/", 400, "Page “abc” is not a page number", {"page": "abc"}),
        id="site page: page=abc",
    ),
    pytest.param(
        Bad("get", "/sites/{site}/", 200, "Spring sale", {"page": "9" * 5000}),
        id="site page: a page of 5,000 digits is past the last, so the last",
    ),
    # -- a job's page, and what buttons ask of jobs and plans
    pytest.param(Bad("post", "/jobs/{job}/", 405, "Allow: GET"), id="job page: POST instead of GET"),
    pytest.param(
        Bad("get", "/jobs/{job}/", 400, "Page “abc” is not a page number", {"page": "abc"}),
        id="job page: page=abc",
    ),
    pytest.param(
        Bad("get", "/jobs/{job}/", 400, "Page “0” is not a page number", {"page": "0"}),
        id="job page: page=0",
    ),
    pytest.param(
        Bad("get", "/jobs/{job}/", 400, "Page “²” is not a page number", {"page": "²"}),
        id="job page: page=² (a digit to str.isdigit(), not to int())",
    ),
    pytest.param(
        Bad(
            "get",
            "/jobs/{job}/",
            400,
            "Page “-2” is not a page number",
            {"page": "-2", "poll": "1", "v": "1"},
            headers=HTMX,
        ),
        id="job poll: page=-2",
    ),
    pytest.param(
        Bad("get", "/jobs/{job}/", 200, "Spring sale", {"page": "9" * 5000}),
        id="job page: a page of 5,000 digits is past the last, so the last",
    ),
    pytest.param(Bad("get", "/jobs/%00/", 404, NOT_FOUND), id="job id: a NUL byte"),
    pytest.param(Bad("get", "/jobs/" + "a" * 300 + "/", 404, NOT_FOUND), id="job id: 300 characters"),
    pytest.param(Bad("get", "/jobs/..%2F..%2Fetc%2Fpasswd/", 404, NOT_FOUND), id="job id: path traversal"),
    pytest.param(Bad("get", "/jobs/%20{job}/", 404, NOT_FOUND), id="job id: a leading space"),
    pytest.param(
        Bad("post", "/plans/{plan}/explode/", 404, "Unknown plan action “explode”."),
        id="plan action: unknown name",
    ),
    pytest.param(
        Bad("post", "/jobs/{job}/start/", 404, "Unknown job action “start”."),
        id="job action: a plan's action on a job",
    ),
    pytest.param(
        Bad("get", "/plans/{running}/stop/", 405, "Allow: POST"), id="plan stop: GET instead of POST"
    ),
    pytest.param(
        Bad("post", "/plans/000000000000000000000000/stop/", 404, NOT_FOUND), id="plan stop: no such plan"
    ),
    pytest.param(Bad("post", "/jobs/١٢٣/reset/", 404, NOT_FOUND), id="job reset: id in Arabic-Indic digits"),
    pytest.param(
        Bad("post", "/plans/{plan}%00/delete/", 404, NOT_FOUND), id="plan delete: id with a NUL byte"
    ),
    pytest.param(
        Bad("post", "/plans/{running}/stop/", 403, READ_ONLY, who="viewer"), id="plan stop: a viewer"
    ),
    pytest.param(
        Bad("post", "/operations/999999999/retry/", 404, NOT_FOUND), id="operation retry: no such operation"
    ),
    pytest.param(
        Bad("post", "/operations/" + "9" * 25 + "/retry/", 404, NOT_FOUND),
        id="operation retry: id past 64 bits",
    ),
    pytest.param(
        Bad("post", "/operations/{succeeded_op}/retry/", 409, "Only a failed operation can be retried."),
        id="operation retry: one that succeeded",
    ),
    pytest.param(
        Bad(
            "post", "/operations/{refused_create_op}/retry/", 409, "A refused create is fixed and sent again"
        ),
        id="operation retry: a refused create",
    ),
    # -- the plan editor
    pytest.param(
        Bad(
            "post",
            "/plans/{plan}/edit/",
            200,
            "with its own UTC offset",
            _edit(start_time="2031-03-01T09:00+08:00"),
        ),
        id="plan edit: a time with an offset",
    ),
    pytest.param(
        Bad(
            "post", "/plans/{plan}/edit/", 200, "Null characters are not allowed.", _edit(end_time="2031\x00")
        ),
        id="plan edit: NUL in a time",
    ),
    pytest.param(
        Bad("post", "/plans/{plan}/edit/", 200, "Enter a whole number.", _edit(slice_len="1.5")),
        id="plan edit: a fraction",
    ),
    pytest.param(
        Bad("post", "/plans/{plan}/edit/", 200, "less than or equal to 86400", _edit(interval="9" * 30)),
        id="plan edit: a 30-digit interval",
    ),
    pytest.param(
        Bad("post", "/plans/{plan}/edit/", 400, "“interval” was sent 2 times", _edit(interval=["60", "120"])),
        id="plan edit: two intervals",
    ),
    pytest.param(
        Bad(
            "post",
            "/plans/{plan}/edit/",
            200,
            "The end must be after the start.",
            _edit(end_time=FUTURE_START),
            headers={"HX-Request": "yes please"},
        ),
        id="plan edit: a bogus HX-Request header",
    ),
    pytest.param(
        Bad(
            "post",
            "/plans/{plan}/edit/",
            200,
            "Start is not a date and time that exists: “2031-02-29T09:00”.",
            _edit(start_time="2031-02-29T09:00"),
            headers=HTMX,
        ),
        id="plan edit (htmx): February 29th of a common year",
    ),
    pytest.param(
        Bad("get", "/plans/66b00000000000000000ffff/edit/", 404, "This plan no longer exists"),
        id="plan edit: no such plan",
    ),
    # -- the plan builder, its generator and its preview
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/",
            200,
            "Interval must be a whole number.",
            _batch(**{"interval-a1": "1e3"}),
        ),
        id="builder: an interval in exponent form",
    ),
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/",
            200,
            "A batch holds at most 50 plans and this one would have 400",
            _batch(row=[f"r{index}" for index in range(400)]),
        ),
        id="builder: 400 row ids",
    ),
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/",
            400,
            "Row “../a1” is not a row this builder made",
            _batch(row=["../a1"]),
        ),
        id="builder: a row id it never made",
    ),
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/",
            400,
            "“start-a1” was sent 2 times",
            _batch(**{"start-a1": [FUTURE_START, FUTURE_END]}),
        ),
        id="builder: a row's start given twice",
    ),
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/",
            200,
            "The number of plans must be a whole number",
            _generate(gen_plans="-3"),
        ),
        id="generator: a negative number of plans",
    ),
    pytest.param(
        Bad("post", "/jobs/{job}/plans/new/", 200, "Ask for at most 50 plans", _generate(gen_plans="51")),
        id="generator: 51 plans",
    ),
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/",
            200,
            "The end is not a date and time",
            _generate(gen_end="2031-03-01T25:00"),
        ),
        id="generator: hour 25",
    ),
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/",
            200,
            "” is not a time zone this server knows (for example",
            _batch(zone="UTC\x00"),
        ),
        id="builder: NUL in the zone",
    ),
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/",
            200,
            "The number of plans must be a whole number",
            _generate(gen_plans="٣"),
        ),
        id="generator: plans in Arabic-Indic digits",
    ),
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/",
            200,
            "The interval and the rate must be at least 1.",
            _generate(gen_mode="finish_by", gen_deadline=FUTURE_END, gen_rate="0"),
        ),
        id="generator: a rate of 0",
    ),
    pytest.param(
        Bad(
            "post",
            "/jobs/{job}/plans/new/preview/",
            400,
            "Row “a b” is not a row this builder made",
            _batch(row=["a b"]),
        ),
        id="preview: a row id with a space",
    ),
    pytest.param(
        Bad("get", "/jobs/{job}/plans/new/preview/", 405, "Allow: POST"), id="preview: GET instead of POST"
    ),
    pytest.param(Bad("post", "/jobs/{job}x/plans/new/", 404, NOT_FOUND, _batch()), id="builder: no such job"),
    # -- a new job
    pytest.param(
        Bad(
            "post",
            "/sites/{site}/jobs/new/",
            200,
            "The text box contains a NUL character",
            _new_job(urls_text="https://example.com/\x00"),
        ),
        id="new job: NUL in the URL list",
    ),
    pytest.param(
        Bad(
            "post",
            "/sites/{site}/jobs/new/",
            200,
            "The OSS URL contains a NUL character",
            _new_job(source="oss", oss_url="https://b.oss.example.com/\x00"),
        ),
        id="new job: NUL in the OSS URL",
    ),
    pytest.param(
        Bad(
            "post",
            "/sites/{site}/jobs/new/",
            302,
            "This form was already submitted: job “Spring sale” was created.",
            _new_job(form_token=CREATED_TOKEN),
        ),
        id="new job: a token already used",
    ),
    pytest.param(
        Bad(
            "post",
            "/sites/{site}/jobs/new/",
            200,
            "This form had no valid token",
            body=b'{"name": "x", "urls_text": "https://example.com/a"}',
            content_type="application/json",
        ),
        id="new job: a JSON body",
    ),
    pytest.param(
        Bad(
            "post",
            "/sites/{site}/jobs/new/",
            200,
            "it contains U+FFFD (�), what is left of bytes that were not UTF-8 text",
            body=b"form_token=abcdef0123456789abcdef01&name=x&source=text&urls_text=https%3A%2F%2Fexample.com%2F%FF",
        ),
        id="new job: a URL in bytes that are not UTF-8",
    ),
    pytest.param(
        Bad(
            "post",
            "/sites/{site}/jobs/new/",
            400,
            "“name” was sent 2 times",
            _new_job(name=["Autumn", "Winter"]),
        ),
        id="new job: two names",
    ),
    pytest.param(
        Bad("post", "/sites/{held_site}0/jobs/new/", 404, NOT_FOUND, _new_job()), id="new job: no such site"
    ),
    # -- the zone times are shown in
    pytest.param(
        Bad(
            "post",
            "/display-zone/",
            302,
            "“Mars/Olympus” is not a time zone this server knows",
            {"zone": "Mars/Olympus"},
        ),
        id="display zone: unknown",
    ),
    pytest.param(
        Bad("post", "/display-zone/", 302, "is not a time zone this server knows", {"zone": "UTC\x00"}),
        id="display zone: NUL",
    ),
    pytest.param(Bad("get", "/display-zone/", 405, "Allow: POST"), id="display zone: GET instead of POST"),
    # -- incidents
    pytest.param(
        Bad("get", "/incidents/hold/", 404, "There is no site “abc” on this dashboard.", {"site": "abc"}),
        id="hold: site=abc",
    ),
    pytest.param(
        Bad("get", "/incidents/hold/", 404, "There is no site “²” on this dashboard.", {"site": "²"}),
        id="hold: site=²",
    ),
    pytest.param(
        Bad("post", "/incidents/hold/", 404, "There is no site “" + "9" * 40, {"site": "9" * 40}),
        id="hold: a 40-digit site",
    ),
    # Past Python's 4,300-digit limit, int() raises: the id is refused by its length before that.
    pytest.param(
        Bad("get", "/incidents/hold/", 404, "There is no site “" + "9" * 40, {"site": "9" * 4301}),
        id="hold: a 4,301-digit site in the address",
    ),
    pytest.param(
        Bad("post", "/incidents/hold/", 404, "There is no site “" + "9" * 40, {"site": "9" * 4301}),
        id="hold: a 4,301-digit site in the form",
    ),
    pytest.param(
        Bad("post", "/incidents/hold/", 404, "There is no site “424242”", {"site": "424242"}),
        id="hold: an unknown site",
    ),
    pytest.param(
        Bad(
            "post",
            "/incidents/hold/",
            400,
            "at most 2000 characters",
            {"site": "{site}", "reason": "r" * 2001},
        ),
        id="hold: a reason too long",
    ),
    pytest.param(
        Bad(
            "post", "/incidents/hold/", 400, "Null characters are not allowed.", {"reason": "origin\x00down"}
        ),
        id="hold: NUL in the reason",
    ),
    pytest.param(
        Bad("post", "/incidents/hold/", 400, "“site” was sent 2 times", {"site": ["{site}", "{held_site}"]}),
        id="hold: two sites",
    ),
    pytest.param(
        Bad("post", "/incidents/hold/?site={site}", 400, "name two different sites", {"site": "{held_site}"}),
        id="hold: one site in the address, another in the form",
    ),
    pytest.param(Bad("post", "/incidents/99999/resume/", 404, NOT_FOUND), id="resume: no such incident"),
    pytest.param(
        Bad("post", "/incidents/{holding_incident}/resume/", 302, "is still being applied"),
        id="resume: a hold still being applied",
    ),
    pytest.param(
        Bad("post", "/incidents/{resumed_incident}/resume/", 302, "is already resumed"),
        id="resume: an incident already resumed",
    ),
    pytest.param(
        Bad(
            "post",
            "/incidents/{resumed_incident}/retry/",
            302,
            "Incident #{resumed_incident} has no failed plans to send again; nothing was sent.",
        ),
        id="retry: nothing failed",
    ),
    pytest.param(
        Bad("post", "/incidents/{holding_incident}/retry/", 403, READ_ONLY, who="viewer"),
        id="retry: a viewer",
    ),
    pytest.param(
        Bad("get", "/incidents/", 400, "Page “-1” is not a page number", {"page": "-1"}),
        id="incidents: page=-1",
    ),
    pytest.param(Bad("get", "/incidents/0/", 404, "No Incident matches"), id="incident page: id 0"),
    pytest.param(
        Bad("get", "/incidents/{holding_incident}/", 400, "Page “1.5” is not a page number", {"page": "1.5"}),
        id="incident page: page=1.5",
    ),
    # -- the team lead's pages and their CSV files
    pytest.param(
        Bad("get", "/overview/", 400, "“site” was sent 2 times", {"site": ["{site}", "{held_site}"]}),
        id="overview: two sites",
    ),
    pytest.param(
        Bad("get", "/exports/jobs.csv", 400, "“١٢٣” is not a site this dashboard knows", {"site": "١٢٣"}),
        id="jobs CSV: site in Arabic-Indic digits",
    ),
    pytest.param(
        Bad(
            "get",
            "/timeline/",
            400,
            "with its own UTC offset",
            {"start": "2031-03-01T09:00Z", "end": "2031-03-02T09:00"},
        ),
        id="timeline: a time in UTC with Z",
    ),
    pytest.param(
        Bad(
            "get",
            "/timeline/",
            400,
            "2031-03-09 02:30 does not exist in America/New_York",
            {"start": "2031-03-09T02:30", "end": "2031-03-10T00:00"},
            zone="America/New_York",
        ),
        id="timeline: a time the clocks skip",
    ),
    pytest.param(
        Bad("get", "/timeline/", 400, "Page “0” is not a page number", {"page": "0"}), id="timeline: page=0"
    ),
    pytest.param(
        Bad(
            "get",
            "/exports/plans.csv",
            400,
            "“To” must be after “From”",
            {"start": "2031-03-02T09:00", "end": "2031-03-01T09:00"},
        ),
        id="plans CSV: a window that ends before it starts",
    ),
    pytest.param(
        Bad("get", "/audit/", 400, "Who is a username: at most 150 characters.", {"who": "w" * 151}),
        id="audit: a username of 151 characters",
    ),
    pytest.param(
        Bad(
            "get",
            "/audit.csv",
            400,
            "2031-11-02 01:30 happens twice in America/New_York",
            {"since": "2031-11-02T01:30"},
            zone="America/New_York",
        ),
        id="audit CSV: a time that happens twice",
    ),
    pytest.param(
        Bad("get", "/audit/", 400, "Page “abc” is not a page number", {"page": "abc"}), id="audit: page=abc"
    ),
    pytest.param(
        Bad("get", "/audit.csv", 400, "“result” was sent 2 times", {"result": ["failed", "succeeded"]}),
        id="audit CSV: two results",
    ),
    # -- logging in
    pytest.param(
        Bad(
            "post",
            "/accounts/login/",
            200,
            "Please enter a correct username and password.",
            {"username": "u" * 151, "password": "x"},
            who="anonymous",
        ),
        id="login: a username of 151 characters",
    ),
    pytest.param(
        Bad(
            "post",
            "/accounts/login/",
            200,
            "Null characters are not allowed.",
            {"username": "olga\x00", "password": "x"},
            who="anonymous",
        ),
        id="login: NUL in the username",
    ),
    # -- headers and bodies
    pytest.param(
        Bad(
            "get",
            "/",
            400,
            "This server does not answer to that host name.",
            headers={"Host": "evil.example"},
        ),
        id="a Host not allowed",
    ),
    pytest.param(
        Bad(
            "post",
            "/plans/{plan}/edit/",
            413,
            "The form sent more than 10.1 MB",
            body=b"interval=" + b"9" * (11 * 1024 * 1024),
        ),
        id="a body above DATA_UPLOAD_MAX_MEMORY_SIZE",
    ),
    pytest.param(
        Bad(
            "post",
            "/incidents/hold/",
            400,
            "The form sent more than 1,000 fields",
            body=b"&".join(b"f%d=1" % n for n in range(1001)),
        ),
        id="more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS",
    ),
]


def _ids(value: object, estate: Mapping[str, object]) -> Any:
    """`value` with the estate's ids put in for their names ("{job}")."""
    if isinstance(value, str):
        return value.format(**estate) if "{" in value else value
    if isinstance(value, list):
        return [_ids(item, estate) for item in value]
    if isinstance(value, Mapping):
        return {key: _ids(item, estate) for key, item in value.items()}
    return value


def _client(who: str, operator_client: Client, viewer_client: Client) -> Client:
    return {"operator": operator_client, "viewer": viewer_client, "anonymous": Client()}[who]


def _send(client: Client, case: Bad, estate: Mapping[str, object]) -> Response:
    path = _ids(case.path, estate)
    if case.body is not None:
        return client.generic(
            case.method.upper(), path, case.body, content_type=case.content_type, headers=case.headers
        )
    send = client.get if case.method == "get" else client.post
    return send(path, _ids(case.data or {}, estate), headers=case.headers)


def _what_it_says(response: Response) -> str:
    """The page or text, the flash messages it left and, for a 405, the methods allowed."""
    said = [response.content.decode(errors="replace")]
    said += [str(message) for message in get_messages(response.wsgi_request)]
    if response.has_header("Allow"):
        said.append(f"Allow: {response['Allow']}")
    return "\n".join(said)


def _main(said: str) -> str:
    """What a failing case's answer said, without the page's header and banner."""
    return said.partition('<main class="content">')[2][:1500] or said[:1500]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_specifically_and_changes_nothing(
    case: Bad,
    estate: dict[str, object],
    operator_client: Client,
    viewer_client: Client,
    published: list[str],
    nul_queries: list[str],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    client = _client(case.who, operator_client, viewer_client)
    if case.zone:
        session = client.session
        session[SESSION_KEY] = case.zone
        session.save()
    before = _tables()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _send(client, case, estate)
    said = _what_it_says(response)
    assert response.status_code == case.status, _main(said)
    assert _ids(case.says, estate) in said, _main(said)
    assert _tables() == before
    assert callbacks == [] and published == []
    assert nul_queries == []


def test_the_table_has_forty_distinct_bad_requests() -> None:
    bad = [value for case in CASES for value in case.values if isinstance(value, Bad)]
    assert len(bad) == len(CASES) >= 40
    assert len({(case.method, case.path, repr(case.data), case.body, case.who) for case in bad}) == len(bad)
