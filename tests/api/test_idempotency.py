"""`Idempotency-Key`: a retried write gets the first answer and acts once, whatever the timing: two
requests with one key at once act once (the unique constraint), a retry while the first is being
handled is told so, and the same key for another request is refused."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from prefetch_ui.api import idempotency
from prefetch_ui.api.models import IdempotencyKey
from prefetch_ui.prefetch.models import Operation, PlanStatus
from prefetch_ui.prefetch.services import operations
from tests.api.conftest import MakeToken, bearer
from tests.factories import PlanFactory, SiteFactory

KEY = {"Idempotency-Key": "4b1d8a5e-2f1c-4e8e-9d2a-0c5f7e1a9b3c"}


def _post(path: str, token: str, body: object = None, **headers: str) -> Any:
    return Client().post(
        f"/api/v1{path}", body, content_type="application/json", headers=bearer(token) | headers
    )


@pytest.fixture
def operate_token(operator: User, make_token: MakeToken) -> str:
    return make_token(operator, scopes=["read", "operate"])


@pytest.mark.django_db
def test_a_retry_with_the_key_gets_the_first_answer_and_acts_once(operate_token: str) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    first = _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY)
    assert first.status_code == 202 and "Idempotent-Replayed" not in first
    Operation.objects.update(status="succeeded")  # done: a new stop would be a new operation
    again = _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY)
    assert (again.status_code, again["Idempotent-Replayed"]) == (202, "true")
    assert again.json() == first.json()
    assert Operation.objects.count() == 1
    # Without the key, the same call acts (the header is what asks for the guarantee).
    assert _post(f"/plans/{plan.esa_id}/stop", operate_token).json()["id"] != first.json()["id"]


@pytest.mark.django_db
def test_a_refusal_is_the_first_answer_too(operate_token: str) -> None:
    plan = PlanFactory.create(status=PlanStatus.WAITING)
    first = _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY)
    assert first.json()["code"] == "plan_not_running"
    plan.status = PlanStatus.RUNNING
    plan.save()
    again = _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY)
    assert (again.status_code, again["Idempotent-Replayed"], again.json()) == (409, "true", first.json())
    assert not Operation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "other",
    [
        {"path": "/plans/{other}/stop"},  # another path
        {"path": "/plans/{plan}/stop?x=1"},  # another query
        {"path": "/plans/{plan}/stop", "body": {"a": 1}},  # another body
    ],
)
def test_the_same_key_for_another_request_is_422(operate_token: str, other: dict[str, Any]) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    second = PlanFactory.create(status=PlanStatus.RUNNING, job=plan.job)
    assert _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY).status_code == 202
    path = other["path"].format(plan=plan.esa_id, other=second.esa_id)
    response = _post(path, operate_token, other.get("body"), **KEY)
    assert response.status_code == 422
    assert response.json() == response.json() | {"code": "idempotency_key_reused", "field": "Idempotency-Key"}
    assert Operation.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_token(operator: User, make_token: MakeToken) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    one, two = (make_token(operator, scopes=["operate"]) for _ in range(2))
    assert _post(f"/plans/{plan.esa_id}/stop", one, **KEY).status_code == 202
    response = _post(f"/jobs/{plan.job.esa_id}/reset", two, **KEY)
    assert response.status_code == 202 and "Idempotent-Replayed" not in response


@pytest.mark.django_db
def test_a_key_is_kept_24_hours(operate_token: str) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    assert _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY).status_code == 202
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    Operation.objects.update(status="succeeded")
    response = _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY)
    assert response.status_code == 202 and "Idempotent-Replayed" not in response
    assert Operation.objects.count() == 2 and IdempotencyKey.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "k" * 256, "caf\u00e9", "a\tb"])
def test_a_key_that_is_no_key_is_422_naming_the_header(operate_token: str, key: str) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    response = _post(f"/plans/{plan.esa_id}/stop", operate_token, **{"Idempotency-Key": key})
    assert (response.status_code, response.json()["field"]) == (422, "Idempotency-Key")
    assert not Operation.objects.exists() and not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_request_that_failed_unexpectedly_leaves_its_key_free(
    operate_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)

    def broken(**kwargs: object) -> None:
        raise RuntimeError("a database fault")

    monkeypatch.setattr(operations, "operation_request", broken)
    client = Client(raise_request_exception=False)
    path = f"/api/v1/plans/{plan.esa_id}/stop"
    assert client.post(path, headers=bearer(operate_token) | KEY).status_code == 500
    monkeypatch.undo()
    assert _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_is_handled_is_409_then_gets_the_first_answer(
    operate_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    acting, may_finish = threading.Event(), threading.Event()
    request = operations.operation_request

    def slow(**kwargs: Any) -> Any:
        acting.set()
        may_finish.wait(timeout=60)
        return request(**kwargs)

    monkeypatch.setattr(operations, "operation_request", slow)

    def first() -> Any:
        try:
            return _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(first)
        assert acting.wait(timeout=60)
        during = _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY)
        may_finish.set()
        first_answer = answer.result(timeout=60)
    assert (during.status_code, during.json()["code"]) == (409, "idempotency_key_in_use")
    assert first_answer.status_code == 202
    after = _post(f"/plans/{plan.esa_id}/stop", operate_token, **KEY)
    assert (after["Idempotent-Replayed"], after.json()) == ("true", first_answer.json())
    assert Operation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_many_requests_with_one_key_at_once_act_once(
    operate_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request looks for the key before any inserts it (a barrier): only the constraint can
    keep them from all acting. Each creates a job (a create never joins another by itself)."""
    site = PlanFactory.create().job.site
    requests = 4
    all_looked = threading.Barrier(requests, timeout=30)
    claim = idempotency.idempotency_claim

    def look_together(**kwargs: Any) -> Any:
        IdempotencyKey.objects.filter(key=kwargs["key"]).exists()
        with contextlib.suppress(threading.BrokenBarrierError):
            all_looked.wait()
        return claim(**kwargs)

    monkeypatch.setattr(idempotency, "idempotency_claim", look_together)
    job = {"name": "at once", "urls": ["https://example.com/a"]}

    def send(_: int) -> tuple[int, Any]:
        try:
            response = _post(f"/sites/{site.esa_id}/jobs", operate_token, job, **KEY)
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(requests) as pool:
        answers = list(pool.map(send, range(requests)))
    assert Operation.objects.count() == 1
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(202) >= 1
    assert set(statuses) <= {202, 409}
    assert all(body["code"] == "idempotency_key_in_use" for status, body in answers if status == 409)


@pytest.mark.django_db
def test_every_routers_writes_honour_the_key(operator: User, make_token: MakeToken) -> None:
    """The key is a hook around every API view: a hold (the incidents router) retried with its key
    gets the first answer, and one incident holder, not two."""
    from prefetch_ui.incidents.models import Incident, IncidentHolder

    SiteFactory.create()
    token = make_token(operator, scopes=["read", "incidents"])
    hold = {"site_id": None, "reason": "CDN down"}
    first = _post("/incidents/hold", token, hold, **KEY)
    assert first.status_code == 201
    again = _post("/incidents/hold", token, hold, **KEY)
    assert (again.status_code, again["Idempotent-Replayed"], again.json()) == (201, "true", first.json())
    assert Incident.objects.count() == 1 and IncidentHolder.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", [403, 429])
def test_an_answer_about_the_token_frees_the_key(
    operator: User, make_token: MakeToken, status: int, settings: Any
) -> None:
    """A refusal of the token's rights or rate says nothing of the request: a retry, once allowed,
    acts."""
    plan = PlanFactory.create(status=PlanStatus.RUNNING)
    token = make_token(operator, scopes=["read"] if status == 403 else ["read", "operate"])
    if status == 429:
        settings.PREFETCH_API_RATE_LIMIT = "1/hour"
        Client().get("/api/v1/sites", headers=bearer(token))
    assert _post(f"/plans/{plan.esa_id}/stop", token, **KEY).status_code == status
    assert not IdempotencyKey.objects.exists()
