"""/api/v1/audit, /overview and /forecast: the same entries and numbers as their pages (the audit
page and its CSV, the overview, the timeline's origin load forecast), and their filters refused as
the pages refuse them, as a 422 naming the field."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import HeldPlan, Incident, StepState
from prefetch_ui.incidents.services.holds import hold_request
from prefetch_ui.prefetch.models import Operation, OperationKind, OperationStatus, Plan, Site
from tests.accounts import OPERATOR
from tests.api.conftest import MakeToken, bearer
from tests.csv_download import csv_rows
from tests.factories import JobFactory, OperationFactory, PlanFactory, SiteFactory
from tests.holds import as_shown, hold_done

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VIA = f"token pager of {OPERATOR.username}"


def _get(path: str, token: str, **query: str | int) -> tuple[int, Any]:
    response = Client(headers=bearer(token)).get(f"/api/v1{path}", query)
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, response.json()


def _operation(at: datetime, **fields: Any) -> Operation:
    operation = OperationFactory.create(**fields)
    Operation.objects.filter(pk=operation.pk).update(created_at=at)
    return operation


@pytest.fixture
def audited(operator: User) -> dict[str, Any]:
    """An operation by hand, one through a token that ESA refused, a hold by hand with a failed
    step, and a hold through a token of every site: an hour apart from NOON on."""
    site = SiteFactory.create()
    by_hand = _operation(
        NOON, requested_by=operator, plan=PlanFactory.create(job=JobFactory.create(site=site))
    )
    refused = _operation(
        NOON + timedelta(hours=1),
        plan=PlanFactory.create(job=JobFactory.create(site=site)),
        kind=OperationKind.PLAN_START,
        status=OperationStatus.FAILED,
        requested_by=operator,
        requested_via=VIA,
        error_code="InvalidParameter.Time",
        error_message="The start time is in the past.",
        request_id="REQ-1",
    )
    held = hold_done(user=operator, site=site, reason="origin 5xx")
    HeldPlan.objects.filter(incident=held).update(
        state=StepState.FAILED, error_code="Throttling", request_id="REQ-2"
    )
    everywhere, _ = hold_request(user=operator, site=None, reason="CDN-wide", via=VIA)
    Incident.objects.filter(pk=held.pk).update(held_at=NOON + timedelta(hours=2))
    Incident.objects.filter(pk=everywhere.pk).update(held_at=NOON + timedelta(hours=3))
    return {"site": site, "by_hand": by_hand, "refused": refused, "held": held, "everywhere": everywhere}


def test_the_audit_log_lists_what_the_page_and_its_csv_list(
    audited: dict[str, Any], read_token: str, viewer_client: Client
) -> None:
    status, body = _get("/audit", read_token)
    assert status == 200 and (body["total"], body["pages"]) == (4, 1)
    items = body["items"]
    assert [(item["kind"], item["who"]) for item in items] == [
        ("incident_hold", VIA),
        ("incident_hold", OPERATOR.username),
        ("plan_start", VIA),
        ("plan_stop", OPERATOR.username),
    ]
    everywhere, held, refused, _ = items
    assert (everywhere["site"], everywhere["site_id"], everywhere["reason"]) == (
        "every site",
        None,
        "CDN-wide",
    )
    assert (held["failed_plans"], held["error_code"], held["request_id"]) == (2, "Throttling", "REQ-2")
    assert (refused["result"], refused["error_code"], refused["request_id"]) == (
        "failed",
        "InvalidParameter.Time",
        "REQ-1",
    )
    assert refused["failed_plans"] is None and refused["operation_id"] == audited["refused"].pk

    export = viewer_client.get(reverse("audit-csv"))
    rows = csv_rows(export)
    assert [
        (
            row["Who"],
            row["Kind"],
            row["Target"],
            row["Result"],
            row["ESA code"],
            row["RequestId"],
            row["Site"],
        )
        for row in rows
    ] == [
        (
            item["who"],
            item["kind"],
            item["target"],
            item["result"],
            item["error_code"],
            item["request_id"],
            item["site"],
        )
        for item in items
    ]
    page = viewer_client.get(reverse("audit")).content.decode()
    assert VIA in page


def test_the_audit_filters_narrow_as_on_the_page(audited: dict[str, Any], read_token: str) -> None:
    def kinds(**query: str | int) -> list[str]:
        status, body = _get("/audit", read_token, **query)
        assert status == 200, body
        return [item["kind"] for item in body["items"]]

    assert kinds(kind="plan_start") == ["plan_start"]
    assert kinds(result="failed") == ["incident_hold", "plan_start"]
    other = SiteFactory.create(esa_id=42, name="other.example")
    assert kinds(site=other.esa_id) == ["incident_hold"]  # the hold of every site held it too
    assert kinds(who=OPERATOR.username, kind="incident_hold") == ["incident_hold", "incident_hold"]
    window = {
        "since": (NOON + timedelta(hours=1)).isoformat(),
        "until": (NOON + timedelta(hours=3)).isoformat(),
    }
    assert kinds(**window) == ["incident_hold", "plan_start"]
    assert kinds(since="2026-03-01T21:30:00+08:00") == ["incident_hold", "incident_hold"]  # 13:30 UTC
    assert _get("/audit", read_token, per_page=1, page=2)[1]["items"][0]["kind"] == "incident_hold"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"who": "nobody"}, "who"),
        ({"who": "ol\x00ga"}, "who"),
        ({"who": "x" * 151}, "who"),
        ({"kind": "plan_explode"}, "kind"),
        ({"result": "maybe"}, "result"),
        ({"site": "12345"}, "site"),
        ({"site": "abc"}, "site"),
        ({"site": "9" * 41}, "site"),
        ({"since": "2026-03-01T12:00"}, "since"),
        ({"until": "tomorrow"}, "until"),
        ({"since": "2026-03-01T12:00:00Z", "until": "2026-03-01T11:00:00Z"}, "since"),
        ({"page": "0"}, "page"),
        ({"page": "2"}, "page"),
    ],
)
def test_a_bad_audit_filter_is_a_422_naming_it(
    audited: dict[str, Any], read_token: str, query: dict[str, str], field: str
) -> None:
    status, body = _get("/audit", read_token, **query)
    assert body["field"] == field
    assert (status, body["code"]) == ((404, "not_found") if query == {"page": "2"} else (422, "invalid"))


def _outlook_estate(operator: User, *, hold_shop: bool = True) -> dict[str, Any]:
    """example.com: a job a future plan will finish, and one with URLs no plan will send; shop.example:
    held; an hour ahead, so the numbers are the same whenever they are read."""
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=1)
    site = SiteFactory.create()
    finishing = JobFactory.create(site=site, name="Homepage", url_count=100, url_submitted=20)
    PlanFactory.create(
        job=finishing, start_time=start, end_time=start + timedelta(hours=1), interval=60, slice_len=10
    )
    stalled = JobFactory.create(site=site, name="Stalled", url_count=50, url_submitted=0)
    PlanFactory.create(
        job=stalled, start_time=start, end_time=start + timedelta(minutes=2), interval=60, slice_len=5
    )
    shop = SiteFactory.create(esa_id=42, name="shop.example")
    shop_job = JobFactory.create(site=shop, name="Catalogue", url_count=30, url_submitted=0)
    PlanFactory.create(
        job=shop_job, start_time=start, end_time=start + timedelta(hours=1), interval=60, slice_len=3
    )
    if hold_shop:
        hold_done(user=operator, site=shop)
    return {"start": start, "site": site, "shop": shop}


def test_the_overviews_outlook_has_the_pages_numbers(
    operator: User, read_token: str, viewer_client: Client
) -> None:
    estate = _outlook_estate(operator)
    status, reviews = _get("/overview", read_token, sort="name")
    assert status == 200
    assert [review["name"] for review in reviews] == ["example.com", "shop.example"]
    example, shop = reviews
    assert (shop["estimate"], shop["held_by_incident"], shop["flags"]) == (
        "held",
        Incident.objects.get().pk,
        ["held"],
    )
    assert (example["url_count"], example["url_submitted"], example["unscheduled"]) == (150, 20, 35)
    assert example["estimate"] == "will not finish" and example["flags"] == ["stalled"]
    jobs = {job["name"]: job for job in example["jobs"]}
    homepage, stalled = jobs["Homepage"]["estimate"], jobs["Stalled"]["estimate"]
    assert (homepage["estimate"], homepage["remaining"], homepage["unscheduled"]) == ("finishes", 80, 0)
    finishes_at = datetime.fromisoformat(homepage["finishes_at"])
    assert finishes_at == estate["start"] + timedelta(minutes=7)  # eight batches of 10
    assert (stalled["estimate"], stalled["unscheduled"]) == ("will not finish", 35)  # 3 batches of 5 sent
    assert example["finishes_at"] == homepage["finishes_at"]

    page = viewer_client.get(reverse("overview"), {"sort": "name"}).content.decode()
    assert "20 / 150 URLs" in page and "0 / 30 URLs" in page
    assert "Will not finish: 35 URLs have no plan" in page
    assert f'the other jobs\' URLs all sent by <span class="when">{as_shown(finishes_at)}</span>' in page
    assert "Held: nothing is sent until it is resumed" in page

    (attention_first, _) = _get("/overview", read_token)[1]
    assert attention_first["name"] == "shop.example"
    only = _get("/overview", read_token, site=DEMO_SITE_ID, attention="true")[1]
    assert [review["name"] for review in only] == ["example.com"]


def _forecast_on_the_page(page: str) -> dict[str, tuple[int, int]]:
    """Per chart of the timeline's forecast (a site's ESA id, or "" for every site): peak and total."""
    charts = re.findall(
        r'<section class="load" data-testid="load-[a-z-]+" data-site="(\d*)" data-peak="(\d+)">'
        r"(?:.*?); (\d+) URLs until",
        page,
        re.S,
    )
    return {site: (int(peak), int(total)) for site, peak, total in charts}


def test_the_load_forecast_has_the_timelines_numbers(
    operator: User, read_token: str, viewer_client: Client
) -> None:
    estate = _outlook_estate(operator, hold_shop=False)
    status, forecast = _get("/forecast", read_token)
    assert status == 200
    by_site = {load["site_id"]: load for load in forecast["sites"]}
    assert set(by_site) == {DEMO_SITE_ID, 42}
    assert by_site[DEMO_SITE_ID]["peak"] == 15  # 10 and 5 in the first two minutes
    assert by_site[DEMO_SITE_ID]["total"] == 80 + 15
    assert datetime.fromisoformat(by_site[DEMO_SITE_ID]["peak_at"]) == estate["start"]
    assert sum(by_site[DEMO_SITE_ID]["urls_per_minute"]) == by_site[DEMO_SITE_ID]["total"]
    every = forecast["every_site"]
    assert (every["site_id"], every["total"]) == (None, by_site[DEMO_SITE_ID]["total"] + by_site[42]["total"])

    page = viewer_client.get(reverse("timeline")).content.decode()
    assert _forecast_on_the_page(page) == {
        **{str(site): (load["peak"], load["total"]) for site, load in by_site.items()},
        "": (every["peak"], every["total"]),
    }
    shop_only = _get("/forecast", read_token, site=42)[1]
    assert [load["site_id"] for load in shop_only["sites"]] == [42] and shop_only["every_site"] is None


def test_a_forecast_until_a_moment_with_nothing_to_send_is_empty(read_token: str) -> None:
    PlanFactory.create(start_time=timezone.now() + timedelta(days=2))
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    status, forecast = _get("/forecast", read_token, until=until)
    assert (status, forecast["sites"], forecast["every_site"]) == (200, [], None)


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/forecast", {"until": "2026-03-01T12:00"}, "until"),
        ("/forecast", {"until": "2020-01-01T00:00:00Z"}, "until"),
        ("/forecast", {"until": "2999-01-01T00:00:00Z"}, "until"),
        ("/forecast", {"site": "12345"}, "site"),
        ("/forecast", {"site": "abc"}, "site"),
        ("/overview", {"site": "12345"}, "site"),
        ("/overview", {"site": "9" * 5000}, "site"),
        ("/overview", {"sort": "size"}, "sort"),
        ("/overview", {"attention": "perhaps"}, "attention"),
    ],
)
def test_bad_overview_and_forecast_filters_are_a_422_naming_them(
    read_token: str, path: str, query: dict[str, str], field: str
) -> None:
    status, body = _get(path, read_token, **query)
    assert (status, body["code"], body["field"]) == (422, "invalid", field)


def test_the_leads_views_need_the_read_scope(operator: User, make_token: MakeToken) -> None:
    incidents_only = make_token(operator, scopes=["incidents"])
    for path in ("/audit", "/overview", "/forecast"):
        assert _get(path, incidents_only)[1]["code"] == "scope_missing"
        assert Client().get(f"/api/v1{path}").status_code == 401
    assert Site.objects.count() == 0 and Plan.objects.count() == 0


def test_an_update_of_a_plan_says_what_it_changed_in_utc(operator: User, read_token: str) -> None:
    plan = PlanFactory.create(start_time=NOON, end_time=NOON + timedelta(hours=1))
    before = {
        "start_time": NOON.isoformat(),
        "end_time": (NOON + timedelta(hours=1)).isoformat(),
        "interval": 60,
        "slice_len": 10,
    }
    _operation(
        NOON,
        plan=plan,
        kind=OperationKind.PLAN_UPDATE,
        requested_by=operator,
        params={
            **before,
            "end_time": (NOON + timedelta(hours=2)).isoformat(),
            "slice_len": 20,
            "before": before,
        },
    )
    (entry,) = _get("/audit", read_token)[1]["items"]
    assert entry["changes"] == (
        "window 2026-03-01T12:00:00+00:00 \N{EN DASH} 2026-03-01T13:00:00+00:00 → "
        "2026-03-01T12:00:00+00:00 \N{EN DASH} 2026-03-01T14:00:00+00:00; batch size 10 → 20"
    )
