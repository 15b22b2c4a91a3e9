"""/api/v1/incidents without a worker: the list and its filters, what each action refuses (scope,
the owner's current rights, bad input, a hold still being applied, a cap no ramp keeps), and that a
refusal changes nothing. The hold, retry and resume carried out by a worker on the simulator are
test_api_incidents_flow's."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from prefetch_ui.api.services import token_create
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import HeldPlan, Incident, IncidentStatus
from prefetch_ui.incidents.services.holds import hold_request
from prefetch_ui.prefetch.models import Plan
from prefetch_ui.web.permissions import OPERATORS_GROUP
from tests.accounts import OPERATOR
from tests.api.conftest import MakeToken, bearer
from tests.factories import PlanFactory, SiteFactory
from tests.holds import hold_done

pytestmark = pytest.mark.django_db

VIA = f"token pager of {OPERATOR.username}"


@pytest.fixture
def acting_token(operator: User) -> str:
    return token_create(user=operator, name="pager", scopes=["read", "incidents"], expires_in_days=1).secret


def _call(method: str, path: str, token: str, body: Any = None, *, raw: str | None = None) -> tuple[int, Any]:
    # As a script calls it: no session, no CSRF token (the API takes a Bearer token instead).
    client = Client(enforce_csrf_checks=True, headers=bearer(token))
    if method == "GET":
        response = client.get(f"/api/v1{path}")
    else:
        data = raw if raw is not None else json.dumps({} if body is None else body)
        response = client.post(f"/api/v1{path}", data=data, content_type="application/json")
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, response.json()


def _plan() -> Plan:
    """A waiting plan on example.com, an hour ahead, of a job with 1,000 URLs to send."""
    start = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    return PlanFactory.create(job__url_count=1000, start_time=start, interval=60, slice_len=10)


def test_the_list_newest_first_filtered_by_status_and_site(operator: User, read_token: str) -> None:
    plan = _plan()
    own = hold_done(user=operator, site=plan.job.site, reason="origin 5xx")
    everywhere, _ = hold_request(user=operator, site=None, reason="CDN-wide", via="alert X via receiver R")
    other = SiteFactory.create(esa_id=42, name="other.example")

    status, body = _call("GET", "/incidents", read_token)
    assert status == 200 and (body["total"], body["pages"]) == (2, 1)
    assert [item["id"] for item in body["items"]] == [everywhere.pk, own.pk]
    first, second = body["items"]
    assert (first["site_id"], first["scope"], first["held_by"], first["status"]) == (
        None,
        "every site",
        "alert X via receiver R",
        "holding",
    )
    assert (second["scope"], second["held_by"], second["plan_total"], second["plan_failed"]) == (
        "example.com",
        OPERATOR.username,
        1,
        0,
    )
    held = _call("GET", "/incidents?status=held", read_token)[1]
    assert [item["id"] for item in held["items"]] == [own.pk]
    on_demo = _call("GET", f"/incidents?site={DEMO_SITE_ID}", read_token)[1]
    assert [item["id"] for item in on_demo["items"]] == [everywhere.pk, own.pk]
    on_other = _call("GET", f"/incidents?site={other.esa_id}", read_token)[1]
    assert [item["id"] for item in on_other["items"]] == [everywhere.pk]

    status, plans = _call("GET", f"/incidents/{own.pk}/plans", read_token)
    assert status == 200
    (row,) = plans["items"]
    assert row == row | {
        "plan_id": plan.esa_id,
        "hold_action": "park",
        "hold_outcome": "parked",
        "state": "done",
    }


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("status=paused", 422, "status"),
        ("site=12345", 422, "site"),
        ("site=abc", 422, "site"),
        ("site=" + "9" * 5000, 422, "site"),
        ("page=3", 404, "page"),
        ("per_page=201", 422, "per_page"),
    ],
)
def test_bad_list_filters_name_the_parameter(read_token: str, query: str, status: int, field: str) -> None:
    answer, body = _call("GET", f"/incidents?{query}", read_token)
    assert answer == status and body["field"] == field


@pytest.mark.parametrize(
    "path",
    [
        "/incidents/999999",
        "/incidents/abc",
        "/incidents/" + "9" * 5000,
        "/incidents/%00",
        "/incidents/%C2%B2",
    ],
)
def test_an_incident_id_that_names_none_is_a_404_naming_it(
    read_token: str, acting_token: str, path: str
) -> None:
    for method, suffix, token in (
        ("GET", "", read_token),
        ("GET", "/plans", read_token),
        ("POST", "/resume/preview", read_token),
        ("POST", "/resume", acting_token),
        ("POST", "/retry", acting_token),
    ):
        status, body = _call(method, path + suffix, token)
        assert (status, body["code"], body["field"]) == (404, "not_found", "incident_id"), (method, suffix)


def test_a_hold_of_every_site_then_of_a_site_under_it(operator: User, acting_token: str) -> None:
    SiteFactory.create()
    status, body = _call("POST", "/incidents/hold", acting_token, {"site_id": None, "reason": "CDN down"})
    assert status == 201 and body["created"] is True
    incident = body["incident"]
    assert (incident["site_id"], incident["scope"], incident["held_by"], incident["status"]) == (
        None,
        "every site",
        VIA,
        "holding",
    )
    assert incident["working"] is True and incident["failures"] == []
    # A site held only as part of every site gets a hold of its own (as on the hold page).
    status, own = _call("POST", "/incidents/hold", acting_token, {"site_id": DEMO_SITE_ID})
    assert status == 201 and own["incident"]["site_id"] == DEMO_SITE_ID
    saved = Incident.objects.get(pk=incident["id"])
    assert (saved.held_by, saved.held_via, saved.reason) == (operator, VIA, "CDN down")
    assert [(holder.via, holder.opened) for holder in saved.holders.all()] == [(VIA, True)]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"site_id": 12345}, 404, "site_id"),
        ({"site_id": "abc"}, 422, "site_id"),
        ({"site_id": str(DEMO_SITE_ID)}, 422, "site_id"),
        ({"site_id": True}, 422, "site_id"),
        ({"site_id": 10**30}, 422, "site_id"),
        ({"site_id": 0}, 422, "site_id"),
        ({"reason": "no scope said"}, 422, "site_id"),
        ({"site_id": None, "reason": "a\x00b"}, 422, "reason"),
        ({"site_id": None, "reason": "x" * 2001}, 422, "reason"),
        ({"site_id": None, "reason": 5}, 422, "reason"),
        ([DEMO_SITE_ID], 422, "site_id"),  # no object: no site_id in it
    ],
)
def test_a_bad_hold_is_refused_naming_the_field_and_holds_nothing(
    acting_token: str, body: Any, status: int, field: str | None
) -> None:
    SiteFactory.create()
    answer, refusal = _call("POST", "/incidents/hold", acting_token, body)
    assert (answer, refusal["field"]) == (status, field)
    assert not Incident.objects.exists()


@pytest.mark.parametrize("raw", ["{not json", '{"site_id": ' + "9" * 5000 + "}", ""])
def test_a_hold_body_that_is_no_json_object_holds_nothing(acting_token: str, raw: str) -> None:
    status, body = _call("POST", "/incidents/hold", acting_token, raw=raw)
    assert 400 <= status < 500 and body["code"]
    assert not Incident.objects.exists()


def test_acting_needs_the_incidents_scope_and_the_owners_right_now(
    operator: User, make_token: MakeToken, acting_token: str
) -> None:
    SiteFactory.create()
    read_only = make_token(operator, scopes=["read"])
    for path in ("/incidents/hold", "/incidents/1/resume", "/incidents/1/retry"):
        status, body = _call("POST", path, read_only, {"site_id": DEMO_SITE_ID})
        assert (status, body["code"]) == (403, "scope_missing"), path
    incidents_only = make_token(operator, scopes=["incidents"])
    assert _call("GET", "/incidents", incidents_only)[0] == 403
    # The owner is no operator any more: the pages refuse them the hold, and so does their token.
    operator.groups.remove(Group.objects.get(name=OPERATORS_GROUP))
    status, body = _call("POST", "/incidents/hold", acting_token, {"site_id": DEMO_SITE_ID})
    assert (status, body["code"]) == (403, "scope_missing")
    assert not Incident.objects.exists()


def test_a_resume_while_the_hold_is_being_applied_is_a_409_and_changes_nothing(
    operator: User, acting_token: str
) -> None:
    plan = _plan()
    incident, _ = hold_request(user=operator, site=plan.job.site, reason="")
    status, preview = _call("POST", f"/incidents/{incident.pk}/resume/preview", acting_token)
    assert (status, preview["incident_status"]) == (200, "holding")
    status, body = _call("POST", f"/incidents/{incident.pk}/resume", acting_token, {"pace": "as_it_was"})
    assert (status, body["code"]) == (409, "incident_not_held")
    assert "still being applied" in body["message"]
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.HOLDING and incident.resume_requested_at is None
    status, body = _call("POST", f"/incidents/{incident.pk}/retry", acting_token)
    assert (status, body["code"]) == (409, "nothing_to_retry")


def test_a_cap_no_ramp_keeps_is_a_422_naming_the_site_and_resumes_nothing(
    operator: User, acting_token: str
) -> None:
    incident = hold_done(user=operator, site=_plan().job.site)
    ask = {"pace": "ramp", "caps": {str(DEMO_SITE_ID): 1}}
    status, preview = _call("POST", f"/incidents/{incident.pk}/resume/preview", acting_token, ask)
    assert status == 200
    (load,) = preview["loads"]
    assert (load["site_id"], load["cap"], load["least_cap"]) == (DEMO_SITE_ID, 1, 10)
    assert preview["errors"] and preview["errors"][0].startswith("example.com:")
    status, body = _call("POST", f"/incidents/{incident.pk}/resume", acting_token, ask)
    assert (status, body["code"], body["field"]) == (422, "ramp_refused", "caps")
    assert "example.com" in body["message"] and "Nothing was resumed" in body["message"]
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.HELD and incident.resume_requested_at is None
    assert not HeldPlan.objects.exclude(resume_action="").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pace": "fast"}, "pace"),
        ({"caps": {"abc": 100}}, "caps"),
        ({"caps": {str(DEMO_SITE_ID): 0}}, "caps"),
        ({"caps": {str(DEMO_SITE_ID): "100"}}, "caps"),
        ({"caps": {str(DEMO_SITE_ID): 10**10}}, "caps"),
        ({"caps": {"42": 100}}, "caps"),
        ({"pace": "as_it_was", "caps": {str(DEMO_SITE_ID): 100}}, "caps"),
        ({"caps": [1]}, "caps"),
        ({"reschedule": "perhaps"}, "reschedule"),
        ({"reason": "a\x00b"}, "reason"),
        ({"reason": "x" * 2001}, "reason"),
        ({"shown_at": "2026-01-01T10:00:00"}, "shown_at"),
        ({"shown_at": "yesterday"}, "shown_at"),
    ],
)
def test_a_bad_resume_is_a_422_naming_the_field_and_resumes_nothing(
    operator: User, acting_token: str, body: dict[str, Any], field: str
) -> None:
    SiteFactory.create(esa_id=42, name="other.example")
    incident = hold_done(user=operator, site=_plan().job.site)
    for path in ("resume/preview", "resume"):
        status, refusal = _call("POST", f"/incidents/{incident.pk}/{path}", acting_token, body)
        assert (status, refusal["code"], refusal["field"]) == (422, "invalid", field), path
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.HELD and incident.resume_requested_at is None


def test_a_resume_with_the_default_ramp_is_recorded_as_the_tokens(operator: User, acting_token: str) -> None:
    plan = _plan()
    incident = hold_done(user=operator, site=plan.job.site)
    status, preview = _call("POST", f"/incidents/{incident.pk}/resume/preview", acting_token)
    assert status == 200 and preview["errors"] == []
    (load,) = preview["loads"]
    assert load["cap"] == load["default_cap"] and load["ramped"] is not None
    (line,) = preview["plans"]
    assert (line["plan_id"], line["action"]) == (plan.esa_id, "restore")
    assert preview["counts"] == {
        "start": 0,
        "restore": 1,
        "reschedule": 0,
        "leave": 0,
        "stays_held": 0,
        "windows_ended": 0,
        "not_held": 0,
        "to_send": 1,
    }
    ask = {"reason": "origin healthy", "shown_at": preview["laid_out_at"]}
    status, resumed = _call("POST", f"/incidents/{incident.pk}/resume", acting_token, ask)
    assert status == 200
    assert (resumed["incident_status"], resumed["incident"]["status"]) == ("resuming", "resuming")
    assert resumed["incident"]["resumed_by"] == VIA
    assert resumed["incident"]["resume_caps"] == {str(DEMO_SITE_ID): load["cap"]}
    incident.refresh_from_db()
    assert (incident.resumed_by, incident.resumed_via, incident.resume_reason) == (
        operator,
        VIA,
        "origin healthy",
    )
    again, body = _call("POST", f"/incidents/{incident.pk}/resume", acting_token, ask)
    assert (again, body["code"]) == (409, "incident_not_held")
