"""The audit log says what an update of a plan changed, and why an incident held and resumed."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import Incident, IncidentStatus
from prefetch_ui.prefetch.models import Operation, OperationKind, OperationStatus, Plan, Site
from prefetch_ui.prefetch.services.operations import operation_execute, operation_retry
from prefetch_ui.prefetch.services.sync import esa_sync

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
START = datetime(2030, 1, 1, tzinfo=UTC)  # 08:00 in Asia/Shanghai, the display zone of the tests


@pytest.fixture
def plan(esa: EsaClient) -> Plan:
    """A plan in ESA and the mirror: 08:00 to 10:00 (+08:00), 10 URLs every 60 s."""
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Spring sale", urls=["https://example.com/a"]
    )
    esa.create_scheduled_preload_executions(job.id, [PlanSpec(START, START + timedelta(hours=2), 60, 10)])
    esa_sync(client=esa)
    return Plan.objects.select_related("job").get(job__esa_id=job.id)


def _update(client: Client, plan: Plan, esa: EsaClient, **fields: str) -> Operation:
    """The plan editor's submission, then the worker's run of the operation it asked for."""
    data = {
        "start_time": "2030-01-01T08:00",
        "end_time": "2030-01-01T10:00",
        "interval": "60",
        "slice_len": "10",
    }
    response = client.post(reverse("plan-edit", args=[plan.esa_id]), data | fields, headers=HTMX)
    assert response.status_code == 200 and response["HX-Trigger"] == "job-changed"
    operation = Operation.objects.filter(kind=OperationKind.PLAN_UPDATE).latest("pk")
    operation_execute(operation_id=operation.pk, client=esa)
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    return operation


def _audit_rows(client: Client) -> list[str]:
    page = client.get(reverse("audit")).content.decode()
    return re.findall(r"<tr data-audit-kind=.*?</tr>", page, flags=re.DOTALL)


def _csv(client: Client) -> list[dict[str, str]]:
    response = client.get(reverse("audit-csv"))
    assert response.status_code == 200
    body = b"".join(response).decode("utf-8").removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(body)))


def test_an_update_records_what_it_changed_and_the_audit_log_and_its_csv_say_it(
    plan: Plan, esa: EsaClient, operator_client: Client, viewer_client: Client
) -> None:
    operation = _update(
        operator_client, plan, esa, start_time="2030-01-01T08:05", end_time="2030-01-01T10:05", slice_len="25"
    )
    # Before: the mirror when it was asked; after: ESA's answer.
    assert operation.params["before"] == {
        "start_time": "2030-01-01T00:00:00+00:00",
        "end_time": "2030-01-01T02:00:00+00:00",
        "interval": 60,
        "slice_len": 10,
    }
    assert operation.result["after"]["slice_len"] == 25
    assert datetime.fromisoformat(operation.result["after"]["start_time"]) == START + timedelta(minutes=5)

    (row,) = _audit_rows(viewer_client)
    said = re.sub(r"\s+", " ", row)
    assert (
        "window 2030-01-01 08:00:00 +08:00 \N{EN DASH} 2030-01-01 10:00:00 +08:00 → "
        "2030-01-01 08:05:00 +08:00 \N{EN DASH} 2030-01-01 10:05:00 +08:00; batch size 10 → 25"
    ) in said
    assert "interval" not in said  # only what changed

    # The job's page says it too, by the operation.
    job_page = viewer_client.get(reverse("job-detail", args=[plan.job.esa_id])).content.decode()
    assert "batch size 10 → 25" in job_page

    (exported,) = _csv(viewer_client)
    assert exported["Changes"] == (
        "window 2030-01-01T08:00:00+08:00 \N{EN DASH} 2030-01-01T10:00:00+08:00 → "
        "2030-01-01T08:05:00+08:00 \N{EN DASH} 2030-01-01T10:05:00+08:00; batch size 10 → 25"
    )


def test_an_update_of_the_interval_alone_names_it_and_one_that_changed_nothing_says_so(
    plan: Plan, esa: EsaClient, operator_client: Client, viewer_client: Client
) -> None:
    _update(operator_client, plan, esa, interval="120")
    _update(operator_client, plan, esa, interval="120")  # as it now is
    nothing, interval = _audit_rows(viewer_client)
    assert "interval 60 s → 120 s" in interval and "window" not in interval
    assert "nothing changed" in nothing
    assert [row["Changes"] for row in _csv(viewer_client)] == ["nothing changed", "interval 60 s → 120 s"]


def test_a_retried_update_compares_with_the_plan_as_it_was_when_asked_again(
    plan: Plan, esa: EsaClient, operator: User, operator_client: Client
) -> None:
    failed = Operation.objects.create(
        kind=OperationKind.PLAN_UPDATE,
        status=OperationStatus.FAILED,
        target_esa_id=plan.esa_id,
        site=plan.job.site,
        job=plan.job,
        plan=plan,
        params={
            "start_time": START.isoformat(),
            "end_time": "2030-01-01T02:00:00+00:00",
            "interval": 60,
            "slice_len": 5,
            "before": {"start_time": None, "end_time": None, "interval": 1, "slice_len": 1},
        },
    )
    retried, created = operation_retry(user=operator, operation=failed)
    assert created
    assert retried.params["before"]["slice_len"] == 10 and retried.params["slice_len"] == 5


def _incident_with_reasons(site: Site, operator: User) -> Incident:
    return Incident.objects.create(
        site=site,
        held_by=operator,
        reason="Origin overloaded by the 9:00 push",
        status=IncidentStatus.RESUMED,
        resumed_by=operator,
        resume_requested_at=datetime(2026, 3, 1, 13, 0, tzinfo=UTC),
        resume_reason="=origin scaled out",  # a spreadsheet would run it
    )


def test_the_audit_log_and_its_csv_say_why_an_incident_held_and_resumed(
    site: Site, operator: User, viewer_client: Client
) -> None:
    _incident_with_reasons(site, operator)
    rows = {re.search(r'data-audit-kind="(\w+)"', row).group(1): row for row in _audit_rows(viewer_client)}  # type: ignore[union-attr]
    assert "Reason: Origin overloaded by the 9:00 push" in rows["incident_hold"]
    assert "Reason: =origin scaled out" in rows["incident_resume"]
    assert "origin scaled out" not in rows["incident_hold"]
    exported = {row["Kind"]: row for row in _csv(viewer_client)}
    assert exported["incident_hold"]["Reason"] == "Origin overloaded by the 9:00 push"
    assert exported["incident_resume"]["Reason"] == "'=origin scaled out"  # neutralised, as every text


def test_a_hold_without_a_reason_says_none_and_other_entries_have_no_changes(
    site: Site, operator: User, viewer_client: Client
) -> None:
    Incident.objects.create(site=site, held_by=operator, status=IncidentStatus.HELD)
    (row,) = _audit_rows(viewer_client)
    assert "Reason:" not in row and 'data-testid="audit-changes"' not in row
    (exported,) = _csv(viewer_client)
    assert (exported["Reason"], exported["Changes"]) == ("", "")
