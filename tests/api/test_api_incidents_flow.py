"""An incident driven through the API with real parts: the simulator over HTTP, Redis and a Celery
worker. A token holds a site, the worker holds it on ESA, a failed step is sent again, and a resume
puts back exactly what was held; the audit log and the incident's page name the token throughout."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.api.services import token_create
from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.incidents.models import HeldPlan, HoldOutcome, Incident, StepState
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.accounts import OPERATOR
from tests.api.conftest import bearer
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# Work done by the worker: a bound that only stops a broken hold from hanging the run.
WORK_TIMEOUT = 120
TOKEN_NAME = "pager"
VIA = f"token {TOKEN_NAME} of {OPERATOR.username}"


def _window(hours_from_now: float) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours_from_now)
    return start, start + timedelta(hours=2)


def _call(method: str, path: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    # As a script calls it: no session, no CSRF token (the API takes a Bearer token instead).
    client = Client(enforce_csrf_checks=True, headers=bearer(token))
    if method == "GET":
        response = client.get(f"/api/v1{path}")
    else:
        response = client.post(f"/api/v1{path}", data=json.dumps(body or {}), content_type="application/json")
    return response.status_code, response.json()


def _status(incident_id: int) -> str:
    return Incident.objects.get(pk=incident_id).status


def test_a_token_holds_retries_and_resumes_a_site_on_esa(
    esa: EsaClient, sim: RunningSimulator, operator: User, operator_client: Client
) -> None:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="spring sale", urls=[f"https://example.com/{n}.js" for n in range(200)]
    )
    running, waiting = esa.create_scheduled_preload_executions(
        job.id,
        [PlanSpec(*_window(0), interval=60, slice_len=10), PlanSpec(*_window(5), interval=60, slice_len=10)],
    ).succeeded
    esa_sync(client=esa)
    token = token_create(
        user=operator, name=TOKEN_NAME, scopes=["read", "incidents"], expires_in_days=1
    ).secret

    status, held = _call("POST", "/incidents/hold", token, {"site_id": DEMO_SITE_ID, "reason": "origin 5xx"})
    assert status == 201 and held["created"] is True
    incident_id = held["incident"]["id"]
    assert {key: held["incident"][key] for key in ("site_id", "scope", "reason", "held_by", "phase")} == {
        "site_id": DEMO_SITE_ID,
        "scope": "example.com",
        "reason": "origin 5xx",
        "held_by": VIA,
        "phase": "hold",
    }
    eventually(
        lambda: _status(incident_id) == "held", timeout=WORK_TIMEOUT, failure="the hold never completed"
    )
    assert {plan.id: plan.status for plan in esa.list_scheduled_preload_executions(job.id).items}[
        running.id
    ] == "stopped"

    status, body = _call("GET", f"/incidents/{incident_id}", token)
    assert status == 200
    assert (body["status"], body["working"], body["plan_total"], body["plan_failed"]) == ("held", False, 2, 0)
    assert body["progress"] == body["progress"] | {
        "phase": "hold",
        "total": 2,
        "settled": 2,
        "unsettled": 0,
        "failed": 0,
        "outcomes": {"stopped": 1, "parked": 1},
    }
    # A second hold of the same site joins the incident: 200, the same incident.
    status, joined = _call("POST", "/incidents/hold", token, {"site_id": DEMO_SITE_ID, "reason": "still 5xx"})
    assert (status, joined["created"], joined["incident"]["id"]) == (200, False, incident_id)
    assert Incident.objects.count() == 1
    assert [(holder.via, holder.reason) for holder in Incident.objects.get().holders.all()] == [
        (VIA, "origin 5xx"),
        (VIA, "still 5xx"),
    ]

    # Who held, on the incident's page and in the audit log (the API's and the page's).
    page = operator_client.get(reverse("incident-detail", args=[incident_id])).content.decode()
    assert f"Held by <strong>{VIA}</strong>" in page
    status, audit = _call("GET", "/audit?kind=incident_hold", token)
    assert status == 200
    assert [(entry["who"], entry["incident_id"]) for entry in audit["items"]] == [(VIA, incident_id)]
    audit_page = operator_client.get(reverse("audit"), {"kind": "incident_hold"}).content.decode()
    assert VIA in audit_page

    # ESA refused one step (as the drainers record a refusal): listed with its code and RequestId,
    # then sent again through the API, and the worker holds it.
    HeldPlan.objects.filter(plan_esa_id=waiting.id).update(
        state=StepState.FAILED,
        hold_outcome=HoldOutcome.REFUSED,
        error_code="Throttling.User",
        error_message="Request was denied due to user flow control.",
        request_id="7A3C-REQUEST",
    )
    status, failing = _call("GET", f"/incidents/{incident_id}", token)
    assert failing["plan_failed"] == 1
    assert [(f["plan_id"], f["error_code"], f["request_id"]) for f in failing["failures"]] == [
        (waiting.id, "Throttling.User", "7A3C-REQUEST")
    ]
    status, retried = _call("POST", f"/incidents/{incident_id}/retry", token)
    assert (status, retried["sent_again"]) == (200, 1)
    eventually(lambda: _status(incident_id) == "held", timeout=WORK_TIMEOUT, failure="the retry never held")
    assert HeldPlan.objects.get(plan_esa_id=waiting.id).state == StepState.DONE
    assert _call("POST", f"/incidents/{incident_id}/retry", token)[0] == 409  # nothing failed now

    status, preview = _call("POST", f"/incidents/{incident_id}/resume/preview", token, {"pace": "as_it_was"})
    assert status == 200
    assert preview["counts"] == preview["counts"] | {"start": 1, "restore": 1, "leave": 0, "to_send": 2}
    assert {plan["plan_id"]: plan["action"] for plan in preview["plans"]} == {
        running.id: "start",
        waiting.id: "restore",
    }
    status, resumed = _call(
        "POST", f"/incidents/{incident_id}/resume", token, {"pace": "as_it_was", "reason": "origin healthy"}
    )
    assert status == 200 and resumed["incident"]["resumed_by"] == VIA
    eventually(lambda: _status(incident_id) == "resumed", timeout=WORK_TIMEOUT, failure="never resumed")
    after = {plan.id: plan for plan in esa.list_scheduled_preload_executions(job.id).items}
    assert (after[waiting.id].start_time, after[waiting.id].end_time) == (
        waiting.start_time,
        waiting.end_time,
    )
    assert after[running.id].status in ("waiting", "running")
    status, audit = _call("GET", "/audit?kind=incident_resume", token)
    assert [(entry["who"], entry["reason"]) for entry in audit["items"]] == [(VIA, "origin healthy")]
    assert any(call["action"] == "StartScheduledPreloadExecution" for call in sim.calls())
