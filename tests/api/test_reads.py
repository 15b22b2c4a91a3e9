"""The read endpoints against a mirror the sync wrote from the simulator: their shapes, their
pages and filters, and bad ids (a 404 naming the parameter, never a 500)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.prefetch.models import Job, OperationKind, OperationStatus, Plan, Site
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.api.conftest import bearer
from tests.factories import JobFactory, OperationFactory, PlanFactory, SiteFactory
from tests.holds import hold_done

pytestmark = pytest.mark.django_db

URLS = [f"https://example.com/page/{index}" for index in range(100)]


def _window(hours_from_now: float, length_hours: float = 2) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours_from_now)
    return start, start + timedelta(hours=length_hours)


@pytest.fixture
def mirrored(esa: EsaClient, operator: User) -> dict[str, str]:
    """A job on the simulator's example.com with a running and a waiting plan, mirrored by the sync,
    and an operation an operator asked for on the waiting plan."""
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="spring sale", urls=URLS)
    running, waiting = esa.create_scheduled_preload_executions(
        job.id,
        [PlanSpec(*_window(0), interval=60, slice_len=10), PlanSpec(*_window(5), interval=60, slice_len=10)],
    ).succeeded
    esa_sync(client=esa)
    OperationFactory.create(
        plan=Plan.objects.get(esa_id=waiting.id),
        kind=OperationKind.PLAN_STOP,
        status=OperationStatus.SUCCEEDED,
        requested_by=operator,
    )
    return {"job": job.id, "running": running.id, "waiting": waiting.id}


def _get(path: str, token: str) -> tuple[int, Any]:
    response = Client().get(f"/api/v1{path}", headers=bearer(token))
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, response.json()


def test_sites(mirrored: dict[str, str], read_token: str) -> None:
    status, body = _get("/sites", read_token)
    assert status == 200 and isinstance(body, list)
    assert sorted(site["name"] for site in body) == sorted(site.site_name for site in SEED_SITES)
    (demo,) = [site for site in body if site["id"] == DEMO_SITE_ID]
    assert demo["job_count"] == 1
    assert demo["plan_counts"] == {"running": 1, "waiting": 1}
    assert set(demo) == {
        "id", "name", "status", "plan_name", "coverage", "access_type", "job_count", "plan_counts",
        "synced_at", "sync_error",
    }  # fmt: skip
    assert _get(f"/sites/{DEMO_SITE_ID}", read_token) == (200, demo)


def test_a_sites_jobs_a_page_at_a_time(mirrored: dict[str, str], read_token: str) -> None:
    status, body = _get(f"/sites/{DEMO_SITE_ID}/jobs", read_token)
    assert status == 200 and isinstance(body, dict)
    assert {key: body[key] for key in ("page", "per_page", "total", "pages")} == {
        "page": 1,
        "per_page": 50,
        "total": 1,
        "pages": 1,
    }
    (job,) = body["items"]
    assert (job["id"], job["site_id"], job["name"], job["url_count"], job["state"]) == (
        mirrored["job"],
        DEMO_SITE_ID,
        "spring sale",
        100,
        "running",
    )
    assert job["plan_counts"] == {"running": 1, "waiting": 1}
    assert _get(f"/sites/{DEMO_SITE_ID}/jobs?name=nothing like it", read_token)[1]["items"] == []


def test_a_job_with_its_estimate(mirrored: dict[str, str], read_token: str) -> None:
    status, body = _get(f"/jobs/{mirrored['job']}", read_token)
    assert status == 200 and isinstance(body, dict)
    assert body["id"] == mirrored["job"] and body["state"] == "running"
    estimate = body["estimate"]
    job = Job.objects.get(esa_id=mirrored["job"])
    assert estimate["remaining"] == job.url_count - job.url_submitted
    assert estimate["estimate"] in {"finishes", "will not finish"}
    assert estimate["open_plans"] == 2
    assert estimate["held_by_incident"] is None


def test_a_jobs_plans_paginated_and_filtered(mirrored: dict[str, str], read_token: str) -> None:
    status, body = _get(f"/jobs/{mirrored['job']}/plans?per_page=1", read_token)
    assert status == 200 and isinstance(body, dict)
    assert (body["total"], body["pages"]) == (2, 2)
    assert [plan["id"] for plan in body["items"]] == [mirrored["running"]]
    second = _get(f"/jobs/{mirrored['job']}/plans?per_page=1&page=2", read_token)[1]
    assert [plan["id"] for plan in second["items"]] == [mirrored["waiting"]]
    waiting = _get(f"/jobs/{mirrored['job']}/plans?status=waiting", read_token)[1]
    (plan,) = waiting["items"]
    assert plan == plan | {"id": mirrored["waiting"], "job_id": mirrored["job"], "status": "waiting"}
    assert (plan["interval"], plan["slice_len"], plan["held_by_incident"]) == (60, 10, None)


def test_a_jobs_operations(mirrored: dict[str, str], read_token: str) -> None:
    status, body = _get(f"/jobs/{mirrored['job']}/operations", read_token)
    assert status == 200 and isinstance(body, dict)
    (operation,) = body["items"]
    assert {key: operation[key] for key in ("kind", "status", "target_id", "plan_id", "requested_by")} == {
        "kind": "plan_stop",
        "status": "succeeded",
        "target_id": mirrored["waiting"],
        "plan_id": mirrored["waiting"],
        "requested_by": "olga",
    }


def test_held_plans_say_so_and_filter_as_held(operator: User, read_token: str) -> None:
    plan = PlanFactory.create()
    hold_done(user=operator, site=plan.job.site)
    body = _get(f"/jobs/{plan.job.esa_id}/plans?status=held", read_token)[1]
    (held,) = body["items"]
    assert held["id"] == plan.esa_id and held["held_by_incident"] is not None
    assert _get(f"/jobs/{plan.job.esa_id}", read_token)[1]["plan_counts"] == {"held": 1}


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/sites/12345", "site_id"),
        ("/sites/abc", "site_id"),
        ("/sites/" + "9" * 5000, "site_id"),
        ("/sites/%C2%B2", "site_id"),
        ("/sites/12345/jobs", "site_id"),
        ("/sites/12345/limits", "site_id"),
        ("/sites/abc/limits", "site_id"),
        ("/jobs/66a000000000000000000fff", "job_id"),
        ("/jobs/" + "a" * 25, "job_id"),
        ("/jobs/%00", "job_id"),
        ("/jobs/%C3%A9/plans", "job_id"),
        ("/jobs/nope/operations", "job_id"),
        ("/jobs/{job}/plans?page=3", "page"),
    ],
)
def test_ids_that_name_nothing_are_404_naming_the_parameter(read_token: str, path: str, field: str) -> None:
    job = JobFactory.create()
    status, body = _get(path.replace("{job}", job.esa_id), read_token)
    assert status == 404
    assert body == body | {"code": "not_found", "field": field}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=" + "9" * 5000, "page"),
        ("per_page=1000", "per_page"),
        ("status=paused", "status"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(read_token: str, query: str, field: str) -> None:
    job = JobFactory.create()
    status, body = _get(f"/jobs/{job.esa_id}/plans?{query}", read_token)
    assert status == 422
    assert body == body | {"code": "invalid", "field": field}


def test_a_second_site_is_read_by_its_own_id(read_token: str) -> None:
    SiteFactory.create(esa_id=42, name="other.example")
    assert _get("/sites/42", read_token)[1]["name"] == "other.example"
    assert Site.objects.count() == 1


@pytest.mark.parametrize("path", ["/nothing", "/sites/", "/jobs/a/b/c", "/sites/1/jobs/extra"])
def test_an_address_that_is_no_endpoint_is_a_json_404(read_token: str, path: str) -> None:
    for client in (Client(), Client(headers=bearer(read_token))):
        response = client.get(f"/api/v1{path}")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_a_wrong_method_is_a_json_405_and_the_root_goes_to_the_docs(read_token: str) -> None:
    response = Client().post("/api/v1/sites", headers=bearer(read_token))
    assert (response.status_code, response["Allow"]) == (405, "GET")
    assert response.json()["code"] == "method_not_allowed"
    root = Client().get("/api/v1/")
    assert (root.status_code, root["Location"]) == (302, "/api/v1/docs")


def test_a_name_filter_holding_a_nul_is_a_422_naming_it(read_token: str) -> None:
    # PostgreSQL refuses a NUL in a query: without this, a 500 there (found by the NUL probe).
    site = SiteFactory.create(esa_id=43, name="nul.example")
    status, body = _get(f"/sites/{site.esa_id}/jobs?name=a%00b", read_token)
    assert status == 422
    assert body == body | {"code": "invalid", "field": "name"}
