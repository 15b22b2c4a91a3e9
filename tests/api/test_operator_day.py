"""An operator's whole day through the API alone, with plain httpx against a live server: the
simulator is ESA, a real Celery worker carries out every operation, and each step waits for its
operation by polling GET /operations/{id}, as a client would."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.api.conftest import MakeToken
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

URLS = [f"https://example.com/assets/{index}.js" for index in range(60)]


def _at(minutes: float) -> str:
    return (datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)).isoformat()


class Api:
    """The calls of the day: every write with an Idempotency-Key, every operation waited for."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def get(self, path: str) -> Any:
        response = self.client.get(f"/api/v1{path}")
        assert response.status_code == 200, response.text
        return response.json()

    def act(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        """Ask, expect 202, then poll the operation until it is done; it must have succeeded."""
        response = self.client.request(
            method, f"/api/v1{path}", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        assert response.status_code == 202, response.text
        done = self.wait(response.json()["id"])
        assert done["status"] == "succeeded", done
        assert done["requested_via"] == "token day of olga"
        return done

    def wait(self, operation_id: int) -> dict[str, Any]:
        """The operation once it is done (succeeded or failed), polled as a client polls it."""

        def finished() -> dict[str, Any] | None:
            operation = self.get(f"/operations/{operation_id}")
            return operation if operation["status"] in {"succeeded", "failed"} else None

        return eventually(finished, timeout=60, failure=f"operation {operation_id} never finished")

    def plan_status(self, job_id: str, plan_id: str) -> str:
        plans = {plan["id"]: plan for plan in self.get(f"/jobs/{job_id}/plans")["items"]}
        return str(plans[plan_id]["status"]) if plan_id in plans else ""


def _token(operator_client: Client) -> str:
    page = operator_client.get("/api/tokens/").content.decode()
    form_token = re.search(r'name="form_token" value="([0-9a-f]{24})"', page)
    assert form_token is not None
    made = operator_client.post(
        "/api/tokens/",
        {
            "name": "day",
            "scopes": ["read", "operate"],
            "expires_in_days": 7,
            "form_token": form_token.group(1),
        },
    )
    assert made.status_code == 201
    return made.content.decode().split('data-testid="token-secret">', 1)[1].split("<", 1)[0]


def test_an_operators_day_through_the_api(
    live_server: LiveServer, esa: EsaClient, operator_client: Client
) -> None:
    esa_sync(client=esa)  # the mirror knows the sites, as after the first sync
    token = _token(operator_client)
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        api = Api(client)
        sites = api.get("/sites")
        assert DEMO_SITE_ID in {site["id"] for site in sites}

        created = api.act("post", f"/sites/{DEMO_SITE_ID}/jobs", {"name": "launch day", "urls": URLS})
        job_id = created["job_id"]
        assert job_id and api.get(f"/jobs/{job_id}")["url_count"] == len(URLS)

        batch = api.act(
            "post",
            f"/jobs/{job_id}/plans",
            {
                "plans": [
                    {"start_time": _at(0), "end_time": _at(60), "interval": 60, "slice_len": 5},
                    {"start_time": _at(120), "end_time": _at(180), "interval": 60, "slice_len": 5},
                ]
            },
        )
        assert [plan["status"] for plan in batch["plans"]] == ["created", "created"]
        now_plan, later_plan = (str(plan["plan_id"]) for plan in batch["plans"])

        def running() -> bool:
            if api.plan_status(job_id, now_plan) == "running":
                return True
            esa_sync(client=esa)  # ESA started it: the next sync says so
            return False

        eventually(running, timeout=60, failure="the plan starting now never ran")
        api.act("post", f"/plans/{now_plan}/stop")
        assert api.plan_status(job_id, now_plan) == "stopped"
        api.act("post", f"/plans/{now_plan}/start")
        eventually(running, timeout=60, failure="the started plan never ran again")

        edited = api.act("patch", f"/plans/{later_plan}", {"interval": 30, "slice_len": 10})
        assert edited["kind"] == "plan_update"
        later = {plan["id"]: plan for plan in api.get(f"/jobs/{job_id}/plans")["items"]}[later_plan]
        assert (later["interval"], later["slice_len"]) == (30, 10)

        api.act("post", f"/jobs/{job_id}/reset")
        api.act("delete", f"/jobs/{job_id}")
        gone = client.get(f"/api/v1/jobs/{job_id}")
        assert (gone.status_code, gone.json()["field"]) == (404, "job_id")

        # The audit log, read through the API too, names the token as who did each step.
        audit = api.get("/audit?who=olga")["items"]
        assert sorted(entry["kind"] for entry in audit) == sorted(
            [
                "job_create",
                "plans_create",
                "plan_stop",
                "plan_start",
                "plan_update",
                "job_reset",
                "job_delete",
            ]
        )
        assert {(entry["who"], entry["result"]) for entry in audit} == {("token day of olga", "succeeded")}

    # And its page says the same.
    assert operator_client.get("/audit/").content.decode().count("token day of olga") >= 7


def test_an_esa_refusal_reaches_the_client_with_esas_code_and_request_id(
    live_server: LiveServer, esa: EsaClient, sim: RunningSimulator, operator: User, make_token: MakeToken
) -> None:
    """A job deleted in ESA behind the mirror's back: the reset ESA refuses fails with ESA's code and
    RequestId, as the job page shows them, and its retry is refused by ESA the same way."""
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="gone", urls=URLS[:3])
    esa_sync(client=esa)
    esa.delete_scheduled_preload_job(job.id)
    token = make_token(operator, scopes=["read", "operate"])
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        api = Api(client)
        reset = client.post(f"/api/v1/jobs/{job.id}/reset")
        assert reset.status_code == 202
        failed = api.wait(reset.json()["id"])
        (call,) = sim.calls("ResetScheduledPreloadJob")
        assert failed["status"] == "failed"
        assert failed["esa_request_id"] == call["request_id"] == failed["request_id"]
        assert failed["esa_code"] and failed["esa_code"] == failed["error_code"]
        retried = client.post(f"/api/v1/operations/{failed['id']}/retry")
        assert retried.status_code == 202 and retried.json()["id"] != failed["id"]
        again = api.wait(retried.json()["id"])
        assert (again["status"], again["esa_code"]) == ("failed", failed["esa_code"])
