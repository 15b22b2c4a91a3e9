"""The audit log: operations and incidents in one list, newest first, its filters, and its CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from prefetch_ui.incidents.models import HeldPlan, HoldAction, Incident, IncidentStatus, StepState
from prefetch_ui.prefetch.models import Job, Operation, OperationKind, OperationStatus, Site
from tests.factories import JobFactory, OperationFactory, PlanFactory, SiteFactory

pytestmark = pytest.mark.django_db

# Noon UTC is 20:00 in Asia/Shanghai, the display zone the tests run in (+08:00 all year).
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _operation(
    site: Site,
    *,
    at: datetime,
    by: User | None = None,
    kind: OperationKind = OperationKind.PLAN_STOP,
    status: OperationStatus = OperationStatus.SUCCEEDED,
    label: str = "Spring sale / plan …0001",
    job: Job | None = None,
    **fields: object,
) -> Operation:
    operation = OperationFactory.create(
        kind=kind,
        status=status,
        requested_by=by,
        target_label=label,
        plan=PlanFactory.create(job=job or JobFactory.create(site=site)),
        **fields,
    )
    Operation.objects.filter(pk=operation.pk).update(created_at=at)  # auto_now_add ignores what it is given
    return operation


def _incident(
    site: Site | None,
    *,
    held_at: datetime,
    by: User | None = None,
    status: IncidentStatus = IncidentStatus.HELD,
    resumed_by: User | None = None,
    resume_requested_at: datetime | None = None,
) -> Incident:
    incident = Incident.objects.create(
        site=site, status=status, held_by=by, resumed_by=resumed_by, resume_requested_at=resume_requested_at
    )
    Incident.objects.filter(pk=incident.pk).update(held_at=held_at)
    return incident


def _failed_step(incident: Incident, site: Site, number: int, *, resume: bool = False) -> HeldPlan:
    return HeldPlan.objects.create(
        incident=incident,
        plan_esa_id=f"plan-{number}",
        job_esa_id="job-1",
        site=site,
        label=f"Spring sale / plan {number}",
        original_status="running",
        interval=60,
        slice_len=10,
        hold_action=HoldAction.STOP,
        resume_action="start" if resume else "",
        state=StepState.FAILED,
        error_code=f"Plan.Refused{number}",
        error_message=f"refusal {number}",
        request_id=f"REQ-{number}",
    )


def _page(client: Client, status: int = 200, **query: str) -> str:
    response = client.get(reverse("audit"), query)
    assert response.status_code == status
    return response.content.decode()


def _rows(page: str) -> list[str]:
    """The table's rows, each as its HTML, in the order shown."""
    return re.findall(r"<tr data-audit-kind=.*?</tr>", page, flags=re.DOTALL)


def _kinds(page: str) -> list[str]:
    return re.findall(r'<tr data-audit-kind="([^"]+)"', page)


def _csv(client: Client, **query: str) -> list[list[str]]:
    response = client.get(reverse("audit-csv"), query)
    assert response.status_code == 200
    assert response.streaming  # rows go out as they are read, not gathered first
    body = b"".join(response).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


# -- one list, newest first ------------------------------------------------------------------------


def test_operations_and_incidents_are_listed_together_newest_first(
    site: Site, operator: User, viewer_client: Client
) -> None:
    _operation(site, at=NOON - timedelta(hours=3), by=operator, label="first stop")
    _incident(
        site,
        held_at=NOON - timedelta(hours=2),
        by=operator,
        status=IncidentStatus.RESUMED,
        resumed_by=operator,
        resume_requested_at=NOON - timedelta(minutes=30),
    )
    _operation(
        site, at=NOON - timedelta(hours=1), by=operator, kind=OperationKind.JOB_RESET, label="the reset"
    )
    page = _page(viewer_client)  # a viewer may read the audit log
    assert "<h1>Audit log</h1>" in page
    assert _kinds(page) == ["incident_resume", "job_reset", "incident_hold", "plan_stop"]
    resume, reset, hold, stop = _rows(page)
    assert "2026-03-01 19:30:00 +08:00" in resume and "Resume (incident)" in resume
    assert "the reset" in reset and "Reset job" in reset
    assert "2026-03-01 18:00:00 +08:00" in hold and "olga" in hold
    assert "first stop" in stop and 'class="badge op-succeeded"' in stop


def test_each_row_links_to_its_job_or_incident_and_a_deleted_job_keeps_its_label(
    site: Site, operator: User, viewer_client: Client
) -> None:
    job = JobFactory.create(site=site, esa_id="66a0000000000000000000aa")
    _operation(site, at=NOON, by=operator, job=job, label="Spring sale / plan …0001")
    gone = JobFactory.create(site=site, esa_id="66a0000000000000000000bb")
    _operation(
        site,
        at=NOON - timedelta(hours=1),
        by=operator,
        kind=OperationKind.JOB_DELETE,
        job=gone,
        label="Old catalogue",
    )
    gone.delete()  # the delete did what it was asked: the mirror no longer has the job
    incident = _incident(None, held_at=NOON - timedelta(hours=2), by=operator)
    stop, delete, hold = _rows(_page(viewer_client))
    assert f'href="{reverse("job-detail", args=[job.esa_id])}"' in stop
    assert "Old catalogue" in delete and "href" not in delete
    assert f'href="{reverse("incident-detail", args=[incident.pk])}"' in hold
    assert f"Incident #{incident.pk}: hold of every site" in hold


def test_a_failed_operation_shows_esa_s_code_message_and_request_id(
    site: Site, operator: User, viewer_client: Client
) -> None:
    _operation(
        site,
        at=NOON,
        by=operator,
        status=OperationStatus.FAILED,
        error_code="InvalidParameter.Interval",
        error_message="The interval is too short.",
        request_id="5F1C-REQ",
    )
    _operation(site, at=NOON - timedelta(hours=1), by=operator, request_id="SUCCESS-REQ")
    failed, succeeded = _rows(_page(viewer_client))
    assert 'class="badge op-failed"' in failed
    assert "<strong>InvalidParameter.Interval</strong> The interval is too short." in failed
    assert "RequestId 5F1C-REQ" in failed
    assert "RequestId" not in succeeded


def test_an_incident_entry_is_running_until_its_phase_settles_then_failed_if_a_plan_failed_in_it(
    site: Site, operator: User, viewer_client: Client
) -> None:
    holding = _incident(site, held_at=NOON, by=operator, status=IncidentStatus.HOLDING)
    _failed_step(holding, site, 9)  # still holding: not settled, so not failed yet
    resumed = _incident(
        site,
        held_at=NOON - timedelta(hours=3),
        by=operator,
        status=IncidentStatus.RESUMED,
        resumed_by=operator,
        resume_requested_at=NOON - timedelta(hours=1),
    )
    _failed_step(resumed, site, 1)  # its hold failed on two plans
    _failed_step(resumed, site, 2)
    _failed_step(resumed, site, 3, resume=True)  # and its resume on one
    holding_row, resume_row, hold_row = _rows(_page(viewer_client))
    assert 'class="badge op-running"' in holding_row and "Plan.Refused9" not in holding_row
    assert 'class="badge op-failed"' in hold_row
    assert "2 plans failed; the first:" in hold_row
    assert "<strong>Plan.Refused1</strong> refusal 1" in hold_row and "RequestId REQ-1" in hold_row
    assert 'class="badge op-failed"' in resume_row
    assert "1 plan failed; the first:" in resume_row and "Plan.Refused3" in resume_row


# -- filters ----------------------------------------------------------------------------------------


@pytest.fixture
def history(site: Site, operator: User, viewer: User) -> dict[str, object]:
    """Olga's failed stop and incident on example.com; Vic's reset on another site; a hold of every site."""
    other = SiteFactory.create(esa_id=990001, name="other.example")
    stop = _operation(
        site,
        at=NOON - timedelta(hours=4),
        by=operator,
        status=OperationStatus.FAILED,
        error_code="Busy",
        label="stop by olga",
    )
    reset = _operation(
        other, at=NOON - timedelta(hours=3), by=viewer, kind=OperationKind.JOB_RESET, label="reset by vic"
    )
    here = _incident(site, held_at=NOON - timedelta(hours=2), by=operator)
    everywhere = _incident(None, held_at=NOON - timedelta(hours=1), by=viewer)
    elsewhere = _incident(other, held_at=NOON - timedelta(minutes=30), by=viewer)
    return {
        "site": site,
        "other": other,
        "stop": stop,
        "reset": reset,
        "here": here,
        "everywhere": everywhere,
        "elsewhere": elsewhere,
    }


def _labels(page: str) -> list[str]:
    return [
        match
        for row in _rows(page)
        for match in re.findall(r"stop by olga|reset by vic|Incident #\d+: \w+ of [\w. ]+", row)
    ]


def test_who_narrows_to_what_that_person_asked_for(history: dict[str, object], viewer_client: Client) -> None:
    page = _page(viewer_client, who="olga")
    here = history["here"]
    assert isinstance(here, Incident)
    assert _labels(page) == [f"Incident #{here.pk}: hold of example.com", "stop by olga"]
    assert '<option value="olga" selected>olga</option>' in page
    assert '<option value="vic">vic</option>' in page  # the list offers everyone who appears


def test_what_narrows_to_one_kind_of_action(history: dict[str, object], viewer_client: Client) -> None:
    assert _kinds(_page(viewer_client, kind="job_reset")) == ["job_reset"]
    assert _kinds(_page(viewer_client, kind="incident_hold")) == ["incident_hold"] * 3
    assert _kinds(_page(viewer_client, kind="incident_resume")) == []


def test_result_narrows_to_failures(history: dict[str, object], viewer_client: Client) -> None:
    assert _labels(_page(viewer_client, result="failed")) == ["stop by olga"]
    assert len(_rows(_page(viewer_client, result="succeeded"))) == 4


def test_a_site_s_entries_include_the_incidents_that_held_every_site(
    history: dict[str, object], viewer_client: Client
) -> None:
    site, everywhere, here = history["site"], history["everywhere"], history["here"]
    assert isinstance(site, Site) and isinstance(everywhere, Incident) and isinstance(here, Incident)
    page = _page(viewer_client, site=str(site.esa_id))
    assert _labels(page) == [
        f"Incident #{everywhere.pk}: hold of every site",
        f"Incident #{here.pk}: hold of example.com",
        "stop by olga",
    ]
    assert "incidents that held every site" in page  # the page says why that one is there


def test_a_time_range_typed_in_the_display_zone_narrows_to_it(
    history: dict[str, object], viewer_client: Client
) -> None:
    # 17:00 to 19:00 in Shanghai is 09:00 to 11:00 UTC: the reset (09:00) and the hold here (10:00);
    # the hold of every site, at 11:00 exactly, is at To and so left out.
    page = _page(viewer_client, since="2026-03-01T17:00", until="2026-03-01T19:00")
    here = history["here"]
    assert isinstance(here, Incident)
    assert _labels(page) == [f"Incident #{here.pk}: hold of example.com", "reset by vic"]
    assert 'value="2026-03-01T17:00"' in page  # the form keeps what was typed


def test_filters_that_match_nothing_say_so(history: dict[str, object], viewer_client: Client) -> None:
    page = _page(viewer_client, who="vic", result="failed")
    assert _rows(page) == []
    assert "No operations or incidents match these filters." in page


def test_an_empty_log_says_what_will_appear_there(viewer_client: Client) -> None:
    page = _page(viewer_client)
    assert "Nothing has been done yet" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"kind": "xyz"}, "“xyz” is not a kind of action."),
        ({"result": "exploded"}, "“exploded” is not a result: choose pending, running, succeeded, failed."),
        ({"site": "abc"}, "“abc” is not a site this dashboard knows."),
        ({"site": "424242"}, "“424242” is not a site this dashboard knows."),
        ({"site": "9" * 40}, "“" + "9" * 40 + "” is not a site this dashboard knows."),
        ({"who": "mallory"}, "There is no user “mallory”."),
        ({"since": "yesterday"}, "From is not a date and time (YYYY-MM-DD HH:MM). You typed “yesterday”."),
        ({"until": "2026-02-30T10:00"}, "To is not a date and time that exists: “2026-02-30T10:00”."),
        ({"since": "2026-03-02T00:00", "until": "2026-03-01T00:00"}, "From must be before To."),
        ({"who": "a\x00b"}, "Who contains a NUL character"),
        ({"since": "2026-03-01T17:00\x00"}, "From contains a NUL character"),
    ],
)
def test_a_bad_filter_is_refused_with_what_is_wrong_and_no_rows(
    history: dict[str, object], viewer_client: Client, query: dict[str, str], message: str
) -> None:
    page = _page(viewer_client, 400, **query)
    assert message in page
    assert _rows(page) == []
    assert "Fix the filters above" in page
    response = viewer_client.get(reverse("audit-csv"), query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert message in response.content.decode()


def test_someone_who_has_done_nothing_is_a_valid_filter(
    history: dict[str, object], viewer_client: Client
) -> None:
    User.objects.create_user("newcomer")
    page = _page(viewer_client, who="newcomer")
    assert '<option value="newcomer" selected>newcomer</option>' in page
    assert "No operations or incidents match these filters." in page


# -- pages and queries ------------------------------------------------------------------------------


def test_the_log_is_paginated_fifty_a_page_keeping_the_filters(
    site: Site, operator: User, viewer_client: Client
) -> None:
    job = JobFactory.create(site=site)
    for minute in range(60):
        _operation(site, at=NOON - timedelta(minutes=minute), by=operator, job=job, label=f"stop {minute}")
    first = _page(viewer_client, who="olga")
    assert len(_rows(first)) == 50
    assert "Page 1 of 2 (60 entries)" in first
    assert 'href="?who=olga&page=2">Older' in first
    second = _page(viewer_client, who="olga", page="2")
    rows = _rows(second)
    assert len(rows) == 10 and "stop 50" in rows[0] and "stop 59" in rows[-1]


def _queries_for_page(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        _page(client)
    return len(queries)


def _mixed_history(site: Site, operator: User, count: int) -> None:
    """`count` entries of every shape: failed operations, and incidents with failed plans."""
    for number in range(count):
        at = NOON - timedelta(minutes=number)
        if number % 3:
            _operation(site, at=at, by=operator, status=OperationStatus.FAILED, error_code="Busy")
        else:
            incident = _incident(site if number % 2 else None, held_at=at, by=operator)
            _failed_step(incident, site, number)


def test_the_page_costs_the_same_queries_for_three_entries_as_for_sixty(
    site: Site, operator: User, viewer_client: Client
) -> None:
    _mixed_history(site, operator, 3)
    few = _queries_for_page(viewer_client)
    _mixed_history(site, operator, 57)
    assert len(_rows(_page(viewer_client))) == 50
    assert _queries_for_page(viewer_client) == few


# -- the CSV ----------------------------------------------------------------------------------------


def test_the_csv_link_carries_the_page_s_filters(history: dict[str, object], viewer_client: Client) -> None:
    page = _page(viewer_client, who="olga", result="failed")
    assert f'href="{reverse("audit-csv")}?who=olga&amp;result=failed" data-testid="audit-csv"' in page


def test_the_csv_has_a_header_and_the_filtered_entries_with_times_that_state_their_offset(
    history: dict[str, object], viewer_client: Client
) -> None:
    header, *rows = _csv(viewer_client, who="olga")
    assert header[:5] == ["When", "Who", "What", "Kind", "Target"]
    column = {name: index for index, name in enumerate(header)}
    assert [row[column["Kind"]] for row in rows] == ["incident_hold", "plan_stop"]
    hold, stop = rows
    assert stop[column["Result"]] == "failed" and stop[column["ESA code"]] == "Busy"
    here = history["here"]
    assert isinstance(here, Incident)
    assert stop[column["Site"]] == "example.com" and hold[column["Incident"]] == str(here.pk)
    when = datetime.fromisoformat(stop[column["When"]])
    assert when == NOON - timedelta(hours=4)
    assert when.utcoffset() == timedelta(hours=8)  # the display zone's offset, stated


def test_the_csv_neutralises_a_target_label_a_spreadsheet_would_run(
    site: Site, operator: User, viewer_client: Client
) -> None:
    _operation(site, at=NOON, by=operator, label='=HYPERLINK("http://evil.example","click")')
    header, row = _csv(viewer_client)
    assert row[header.index("Target")] == '\'=HYPERLINK("http://evil.example","click")'


def test_the_csv_is_an_attachment_named_for_when_it_was_made(viewer_client: Client) -> None:
    response = viewer_client.get(reverse("audit-csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="audit-\d{8}-\d{4}\.csv"', response["Content-Disposition"])
