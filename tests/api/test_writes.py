"""The write endpoints: each action recorded as the pages record it (the same services, "token NAME
of USER" as who asked), answered 202 with the operation; every refusal the pages give a 409 or 422
naming the field, and nothing recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django import Settings

from prefetch_ui.api.models import ApiToken
from prefetch_ui.prefetch.models import Job, Operation, OperationKind, OperationStatus, Plan, PlanStatus
from prefetch_ui.web.permissions import OPERATORS_GROUP
from tests.api.conftest import MakeToken, bearer
from tests.factories import JobFactory, OperationFactory, PlanFactory, SiteFactory
from tests.holds import hold_done

pytestmark = pytest.mark.django_db

VIA = "token test of olga"


@pytest.fixture
def operate_token(operator: User, make_token: MakeToken) -> str:
    return make_token(operator, scopes=["read", "operate"])


def call(method: str, path: str, token: str, body: object = None, **headers: str) -> tuple[int, Any]:
    response = getattr(Client(), method)(
        f"/api/v1{path}", body, content_type="application/json", headers=bearer(token) | headers
    )
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.status_code, response.json()


def _later(hours: float) -> str:
    return (datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("post", "/plans/{plan}/start", PlanStatus.STOPPED, OperationKind.PLAN_START),
        ("post", "/plans/{plan}/stop", PlanStatus.RUNNING, OperationKind.PLAN_STOP),
        ("delete", "/plans/{plan}", PlanStatus.FINISHED, OperationKind.PLAN_DELETE),
        ("post", "/jobs/{job}/reset", PlanStatus.FINISHED, OperationKind.JOB_RESET),
        ("delete", "/jobs/{job}", PlanStatus.RUNNING, OperationKind.JOB_DELETE),
    ],
)
def test_an_action_is_an_operation_answered_202_and_a_second_call_joins_it(
    operate_token: str, method: str, path: str, status: str, kind: str
) -> None:
    plan = PlanFactory.create(status=status)
    target = path.format(plan=plan.esa_id, job=plan.job.esa_id)
    answer, body = call(method, target, operate_token)
    assert answer == 202
    operation = Operation.objects.get()
    assert operation.requested_by is not None and operation.requested_by.username == "olga"
    assert (operation.kind, operation.requested_via) == (kind, VIA)
    assert body == body | {
        "id": operation.pk,
        "kind": kind,
        "status": "pending",
        "requested_via": VIA,
        "joined": False,
        "esa_code": None,
        "warnings": [],
    }
    assert body["target_id"] in {plan.esa_id, plan.job.esa_id}
    again = call(method, target, operate_token)
    assert again[0] == 202 and again[1]["id"] == operation.pk and again[1]["joined"] is True
    assert Operation.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/plans/{plan}/start", PlanStatus.RUNNING, "plan_not_stopped"),
        ("/plans/{plan}/start", PlanStatus.WAITING, "plan_not_stopped"),
        ("/plans/{plan}/stop", PlanStatus.WAITING, "plan_not_running"),
        ("/plans/{plan}/stop", PlanStatus.STOPPED, "plan_not_running"),
    ],
)
def test_start_only_a_stopped_plan_and_stop_only_a_running_one(
    operate_token: str, path: str, status: str, code: str
) -> None:
    plan = PlanFactory.create(status=status)
    answer, body = call("post", path.format(plan=plan.esa_id), operate_token)
    assert (answer, body["code"], body["field"]) == (409, code, "plan_id")
    assert not Operation.objects.exists()


def test_a_held_site_starts_resets_edits_and_adds_nothing(operate_token: str, operator: User) -> None:
    stopped = PlanFactory.create(status=PlanStatus.STOPPED, start_time=datetime.now(UTC) + timedelta(hours=3))
    job = stopped.job
    hold_done(user=operator, site=job.site)
    before = Operation.objects.count()
    refusals = [
        call("post", f"/plans/{stopped.esa_id}/start", operate_token),
        call("post", f"/jobs/{job.esa_id}/reset", operate_token),
        call("patch", f"/plans/{stopped.esa_id}", operate_token, {"interval": 30}),
        call(
            "post",
            f"/jobs/{job.esa_id}/plans",
            operate_token,
            {"plans": [{"start_time": _later(1), "end_time": _later(2), "interval": 60, "slice_len": 10}]},
        ),
    ]
    for answer, body in refusals:
        assert (answer, body["code"], body["field"]) == (409, "site_held", "site_id")
        assert "incident" in body["message"].lower()
    assert Operation.objects.count() == before
    # What the pages allow on a held site, the API does too: deleting, and a new job.
    assert call("delete", f"/plans/{stopped.esa_id}", operate_token)[0] == 202


def test_an_edit_changes_what_it_names_and_keeps_the_rest(operate_token: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    plan = PlanFactory.create(
        start_time=start, end_time=start + timedelta(hours=1), interval=60, slice_len=10
    )
    answer, body = call("patch", f"/plans/{plan.esa_id}", operate_token, {"interval": 30})
    assert answer == 202 and body["kind"] == "plan_update"
    operation = Operation.objects.get()
    assert operation.params | {"before": None} == {
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=1)).isoformat(),
        "interval": 30,
        "slice_len": 10,
        "before": None,
    }
    # Another edit while this one is under way is refused, as on the page.
    answer, body = call("patch", f"/plans/{plan.esa_id}", operate_token, {"slice_len": 5})
    assert (answer, body["code"]) == (409, "update_in_progress")
    assert Operation.objects.count() == 1


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"start_time": "2020-01-01T00:00:00Z"}, "start_time"),
        ({"end_time": "2020-01-01T00:00:00Z"}, "end_time"),
        ({"start_time": "2031-01-01T00:00:00.5Z"}, "start_time"),
        ({"start_time": "2031-01-01T00:00:00"}, "start_time"),  # no offset: whose 9 o'clock?
        ({"start_time": "tomorrow"}, "start_time"),
        ({"interval": 0}, "interval"),
        ({"interval": 10**12}, "interval"),
        ({"interval": "60"}, "interval"),
        ({"interval": True}, "interval"),
        ({"slice_len": 1.5}, "slice_len"),
        ({"slice_len": 100_000}, "slice_len"),
        ({"intervall": 30}, "intervall"),
        ({}, "start_time"),
        ({"interval": None}, "start_time"),
    ],
)
def test_a_bad_edit_is_422_naming_the_field(operate_token: str, edit: dict[str, object], field: str) -> None:
    plan = PlanFactory.create(start_time=datetime.now(UTC) + timedelta(hours=2))
    answer, body = call("patch", f"/plans/{plan.esa_id}", operate_token, edit)
    assert (answer, body["code"], body["field"]) == (422, "invalid", field), body
    assert not Operation.objects.exists()


@pytest.mark.parametrize("status", [PlanStatus.FINISHED, PlanStatus.FAILED])
def test_a_finished_or_failed_plan_is_not_edited(operate_token: str, status: str) -> None:
    plan = PlanFactory.create(status=status)
    answer, body = call("patch", f"/plans/{plan.esa_id}", operate_token, {"interval": 30})
    assert (answer, body["code"], body["field"]) == (409, "plan_not_editable", "plan_id")
    assert "ESA does not run it again" in body["message"]
    assert not Operation.objects.exists()


def test_a_job_from_urls_and_one_from_oss(operate_token: str) -> None:
    site = SiteFactory.create()
    urls = ["https://example.com/a.js", "https://cdn.example.com/b.css"]
    answer, body = call("post", f"/sites/{site.esa_id}/jobs", operate_token, {"name": "spring", "urls": urls})
    assert answer == 202
    assert body == body | {"kind": "job_create", "target_id": str(site.esa_id), "target_label": "spring"}
    operation = Operation.objects.get()
    assert operation.params == {"name": "spring", "urls": urls} and operation.requested_via == VIA
    oss = "https://bucket.oss-cn-hangzhou.aliyuncs.com/urls.txt"
    answer, body = call("post", f"/sites/{site.esa_id}/jobs", operate_token, {"name": "big", "oss_url": oss})
    assert answer == 202
    assert Operation.objects.get(pk=body["id"]).params == {"name": "big", "oss_url": oss}


@pytest.mark.parametrize(
    ("job", "code", "field"),
    [
        ({"name": "x", "urls": ["https://example.com/a", "https://other.org/b"]}, "url_refused", "urls.1"),
        ({"name": "x", "urls": ["https://example.com/a", "https://example.com/a"]}, "url_refused", "urls.1"),
        ({"name": "x", "urls": ["ftp://example.com/a"]}, "url_refused", "urls.0"),
        ({"name": "x", "urls": ["https://example.com/" + "a" * 3000]}, "url_refused", "urls.0"),
        ({"name": "x", "urls": ["https://example.com/a\nhttps://example.com/b"]}, "invalid", "urls.0"),
        ({"name": "x", "urls": ["https://example.com/\x00"]}, "invalid", "urls.0"),
        ({"name": "x", "urls": []}, "invalid", "urls"),
        ({"name": "x", "urls": "https://example.com/a"}, "invalid", "urls"),
        ({"name": "x"}, "invalid", "urls"),
        (
            {"name": "x", "urls": ["https://example.com/a"], "oss_url": "https://b.oss.com/u"},
            "invalid",
            "urls",
        ),
        ({"name": "x", "oss_url": "not a url"}, "invalid", "oss_url"),
        ({"name": "x", "oss_url": "https://b.oss.com/\x00"}, "invalid", "oss_url"),
        ({"name": "", "urls": ["https://example.com/a"]}, "invalid", "name"),
        ({"name": "   ", "urls": ["https://example.com/a"]}, "invalid", "name"),
        ({"name": "a\x00b", "urls": ["https://example.com/a"]}, "invalid", "name"),
        ({"name": "n" * 256, "urls": ["https://example.com/a"]}, "invalid", "name"),
        ({"name": 5, "urls": ["https://example.com/a"]}, "invalid", "name"),
        ({"name": "x", "urls": ["https://example.com/a"], "site": 1}, "invalid", "site"),
    ],
)
def test_a_bad_job_is_refused_naming_the_field_and_nothing_is_recorded(
    operate_token: str, job: dict[str, object], code: str, field: str
) -> None:
    site = SiteFactory.create()
    answer, body = call("post", f"/sites/{site.esa_id}/jobs", operate_token, job)
    assert (answer, body["code"], body["field"]) == (422, code, field), body
    assert not Operation.objects.exists()


def test_a_job_of_more_urls_than_a_job_takes_is_refused(operate_token: str, settings: Settings) -> None:
    settings.PREFETCH_MAX_URLS_PER_JOB = 2
    urls = [f"https://example.com/{index}" for index in range(3)]
    answer, body = call(
        "post", f"/sites/{SiteFactory.create().esa_id}/jobs", operate_token, {"name": "x", "urls": urls}
    )
    assert (answer, body["field"]) == (422, "urls")
    assert not Operation.objects.exists()


def _plan(hours: float, **fields: object) -> dict[str, object]:
    return {
        "start_time": _later(hours),
        "end_time": _later(hours + 1),
        "interval": 60,
        "slice_len": 10,
    } | fields


def test_a_batch_of_plans(operate_token: str) -> None:
    job = JobFactory.create()
    answer, body = call("post", f"/jobs/{job.esa_id}/plans", operate_token, {"plans": [_plan(1), _plan(3)]})
    assert answer == 202
    assert body == body | {"kind": "plans_create", "target_id": job.esa_id, "job_id": job.esa_id}
    assert body["plans"] == [{"status": "pending"}, {"status": "pending"}]
    rows = Operation.objects.get().params["rows"]
    assert [(row["row"], row["interval"]) for row in rows] == [("0", 60), ("1", 60)]


@pytest.mark.parametrize(
    ("plans", "code", "field"),
    [
        ([_plan(1), _plan(-2)], "invalid", "plans.1.start_time"),
        ([_plan(1, end_time=_later(0.5))], "invalid", "plans.0.end_time"),
        ([_plan(1, start_time=_later(1)[:-6] + ".25+00:00")], "invalid", "plans.0.start_time"),
        ([_plan(1, interval=0)], "invalid", "plans.0.interval"),
        ([_plan(1, slice_len="ten")], "invalid", "plans.0.slice_len"),
        ([{"start_time": _later(1)}], "invalid", "plans.0.end_time"),
        ([], "invalid", "plans"),
        ([_plan(1)] * 51, "invalid", "plans"),
        ([_plan(1)] * 3, "too_many_plans", "plans"),
    ],
)
def test_a_bad_batch_is_refused_naming_the_field(
    operate_token: str, settings: Settings, plans: list[object], code: str, field: str
) -> None:
    settings.PREFETCH_MAX_PLANS_PER_JOB = 2
    job = JobFactory.create()
    answer, body = call("post", f"/jobs/{job.esa_id}/plans", operate_token, {"plans": plans})
    assert (answer, body["code"], body["field"]) == (422, code, field), body
    assert not Operation.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("post", "/plans/66b000000000000000000fff/start", "plan_id"),
        ("post", "/plans/%00/stop", "plan_id"),
        ("patch", "/plans/" + "b" * 25, "plan_id"),
        ("delete", "/plans/%C3%A9", "plan_id"),
        ("post", "/jobs/nope/reset", "job_id"),
        ("delete", "/jobs/" + "a" * 5000, "job_id"),
        ("post", "/jobs/%00/plans", "job_id"),
        ("post", "/sites/12345/jobs", "site_id"),
        ("post", "/sites/" + "9" * 5000 + "/jobs", "site_id"),
        ("post", "/operations/999999/retry", "operation_id"),
        ("post", "/operations/abc/retry", "operation_id"),
        ("get", "/operations/" + "9" * 40, "operation_id"),
    ],
)
def test_ids_that_name_nothing_are_404_naming_the_parameter(
    operate_token: str, method: str, path: str, field: str
) -> None:
    body: dict[str, object] | None = {"interval": 30} if method == "patch" else None
    if path.endswith("/plans"):
        body = {"plans": [_plan(1)]}
    if path.endswith("/jobs"):
        body = {"name": "x", "urls": ["https://example.com/a"]}
    answer, refusal = call(method, path, operate_token, body)
    assert (answer, refusal["code"], refusal["field"]) == (404, "not_found", field)
    assert not Operation.objects.exists()


@pytest.mark.parametrize("body", ["{", "[]", '"plans"', "\x00"])
def test_a_body_that_is_no_object_is_422(operate_token: str, body: str) -> None:
    job = JobFactory.create()
    response = Client().post(
        f"/api/v1/jobs/{job.esa_id}/plans",
        body,
        content_type="application/json",
        headers=bearer(operate_token),
    )
    assert response.status_code in {400, 422} and response.json()["code"] in {"invalid", "bad_request"}
    assert not Operation.objects.exists()


def test_writes_need_the_operate_scope_and_the_owners_rights_now(
    operator: User, viewer: User, make_token: MakeToken
) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    read_only = make_token(operator, scopes=["read"])
    answer, body = call("post", f"/plans/{plan.esa_id}/stop", read_only)
    assert (answer, body["code"]) == (403, "scope_missing")
    operate = make_token(operator, scopes=["operate"])
    operator.groups.remove(operator.groups.get(name=OPERATORS_GROUP))
    answer, body = call("post", f"/plans/{plan.esa_id}/stop", operate)
    assert (answer, body["code"]) == (403, "scope_missing")
    assert "olga no longer has the rights" in body["message"]
    viewer_token = make_token(viewer)
    assert call("delete", f"/jobs/{plan.job.esa_id}", viewer_token)[1]["code"] == "scope_missing"
    assert not Operation.objects.exists()


def test_an_expired_or_revoked_token_is_401(operate_token: str) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    ApiToken.objects.update(revoked_at=datetime.now(UTC))
    assert call("post", f"/plans/{plan.esa_id}/stop", operate_token)[:1] == (401,)
    ApiToken.objects.update(revoked_at=None, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    answer, body = call("post", f"/plans/{plan.esa_id}/stop", operate_token)
    assert (answer, body["code"]) == (401, "token_invalid")
    assert not Operation.objects.exists()


def test_an_operation_read_with_esas_code_and_request_id_and_retried(
    operate_token: str, read_token: str, operator: User
) -> None:
    plan = PlanFactory.create(status=PlanStatus.STOPPED)
    failed = OperationFactory.create(
        plan=plan,
        kind=OperationKind.PLAN_START,
        status=OperationStatus.FAILED,
        requested_by=operator,
        error_code="InvalidParameter.Status",
        error_message="The plan cannot start now.",
        request_id="5E1A2B3C-0000-4000-8000-000000000001",
    )
    answer, body = call("get", f"/operations/{failed.pk}", read_token)
    assert answer == 200
    assert body == body | {
        "status": "failed",
        "error_code": "InvalidParameter.Status",
        "esa_code": "InvalidParameter.Status",
        "esa_request_id": "5E1A2B3C-0000-4000-8000-000000000001",
        "plan_id": plan.esa_id,
    }
    answer, body = call("post", f"/operations/{failed.pk}/retry", read_token)
    assert (answer, body["code"]) == (403, "scope_missing")
    answer, body = call("post", f"/operations/{failed.pk}/retry", operate_token)
    assert answer == 202 and body["id"] != failed.pk and body["requested_via"] == VIA
    # Only a failed one is retried.
    answer, body = call("post", f"/operations/{body['id']}/retry", operate_token)
    assert (answer, body["code"], body["field"]) == (409, "not_retryable", "operation_id")


def test_a_refused_create_is_not_retried_but_sent_again(operate_token: str, operator: User) -> None:
    job = JobFactory.create()
    failed = OperationFactory.create(
        plan=None,
        job=job,
        kind=OperationKind.PLANS_CREATE,
        status=OperationStatus.FAILED,
        target_esa_id="f" * 24,
    )
    answer, body = call("post", f"/operations/{failed.pk}/retry", operate_token)
    assert (answer, body["code"]) == (409, "not_retryable")
    assert "form" in body["message"]


def test_a_create_keyed_by_an_idempotency_key_is_never_sent_twice(operate_token: str) -> None:
    """Past the 24 h the key's answer is kept, the create's own key (the form token it derives)
    still finds it: a create that finished says so, with ESA's refusal if it failed."""
    job = JobFactory.create()
    batch = {"plans": [_plan(1)]}
    first = call("post", f"/jobs/{job.esa_id}/plans", operate_token, batch, **{"Idempotency-Key": "k1"})[1]
    Operation.objects.filter(pk=first["id"]).update(
        status=OperationStatus.FAILED, error_code="PlansRefused", request_id="RID-1", error_message="no"
    )
    ApiToken.objects.get().idempotency_keys.all().delete()  # as after 24 h
    answer, body = call(
        "post", f"/jobs/{job.esa_id}/plans", operate_token, batch, **{"Idempotency-Key": "k1"}
    )
    assert (answer, body["code"], body["field"]) == (409, "already_sent", "Idempotency-Key")
    assert body == body | {"operation_id": first["id"], "esa_code": "PlansRefused", "esa_request_id": "RID-1"}
    assert Operation.objects.count() == 1
    # Another key sends it again.
    assert (
        call("post", f"/jobs/{job.esa_id}/plans", operate_token, batch, **{"Idempotency-Key": "k2"})[0] == 202
    )


def test_a_site_not_active_is_warned_of_not_refused(operate_token: str) -> None:
    site = SiteFactory.create(status="offline")
    answer, body = call(
        "post", f"/sites/{site.esa_id}/jobs", operate_token, {"name": "x", "urls": ["https://example.com/a"]}
    )
    assert answer == 202
    (warning,) = body["warnings"]
    assert warning.startswith("site_not_active: example.com is offline")


def test_a_job_deleted_while_its_plan_is_stopped(operate_token: str) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    assert call("delete", f"/jobs/{plan.job.esa_id}", operate_token)[0] == 202
    assert Job.objects.filter(pk=plan.job.pk).exists()  # until a worker has ESA delete it
    assert Plan.objects.filter(pk=plan.pk).exists()


def test_a_body_over_the_upload_limit_is_a_json_413(operate_token: str, settings: Settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    site = SiteFactory.create()
    job = {"name": "x", "urls": ["https://example.com/" + "a" * 100] * 20}
    response = Client().post(
        f"/api/v1/sites/{site.esa_id}/jobs",
        job,
        content_type="application/json",
        headers=bearer(operate_token) | {"Idempotency-Key": "big"},
    )
    assert (response.status_code, response.json()["code"]) == (413, "too_large")
    assert not Operation.objects.exists()


def test_a_path_a_read_and_a_write_share_allows_both_methods(operate_token: str) -> None:
    job = JobFactory.create()
    response = Client().put(f"/api/v1/jobs/{job.esa_id}", headers=bearer(operate_token))
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")
    assert response["Allow"] == "DELETE, GET"
    assert Client().get(f"/api/v1/jobs/{job.esa_id}", headers=bearer(operate_token)).status_code == 200
