"""Editing a plan: wall-clock times in the display zone, checked, sent to ESA in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.planning.local_time import LocalTimeError, local_to_utc
from prefetch_ui.prefetch.models import Operation, Plan
from prefetch_ui.prefetch.services.operations import operation_execute
from prefetch_ui.prefetch.services.sync import esa_sync

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}

NEW_YORK = ZoneInfo("America/New_York")


def test_local_times_become_utc_and_dst_edges_are_refused() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert local_to_utc(datetime(2026, 12, 1, 8, 0), shanghai) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert local_to_utc(datetime(2026, 7, 1, 12, 0), NEW_YORK) == datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    with pytest.raises(LocalTimeError, match="does not exist"):
        local_to_utc(datetime(2026, 3, 8, 2, 30), NEW_YORK)  # clocks jump from 2:00 to 3:00
    with pytest.raises(LocalTimeError, match="happens twice"):
        local_to_utc(datetime(2026, 11, 1, 1, 30), NEW_YORK)  # 1:00-2:00 is repeated


@pytest.fixture
def plan(esa: EsaClient) -> Plan:
    job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=["https://example.com/a"])
    start = datetime(2030, 1, 1, tzinfo=UTC)
    esa.create_scheduled_preload_executions(job.id, [PlanSpec(start, start + timedelta(hours=2), 60, 10)])
    esa_sync(client=esa)
    return Plan.objects.select_related("job").get(job__esa_id=job.id)


def _fields(start: str, end: str, interval: str, slice_len: str) -> dict[str, str]:
    return {"start_time": start, "end_time": end, "interval": interval, "slice_len": slice_len}


# The plan as it is (2030-01-01 00:00 to 02:00 UTC) in the default display zone, Asia/Shanghai.
AS_IT_IS = _fields("2030-01-01T08:00", "2030-01-01T10:00", "60", "10")
# A valid change of every field.
CHANGED = _fields("2030-06-01T09:30", "2030-06-01T18:00", "120", "25")


def _edit(client: Client, plan: Plan, data: dict[str, str]) -> Response:
    """The editor's htmx POST; it answers 200, with the form again or a fragment saying what happened."""
    response = client.post(reverse("plan-edit", args=[plan.esa_id]), data, headers=HTMX)
    assert response.status_code == 200
    return response


def test_the_form_shows_the_plan_in_the_display_zone(plan: Plan, operator_client: Client) -> None:
    page = operator_client.get(reverse("plan-edit", args=[plan.esa_id]), headers=HTMX).content.decode()
    assert 'value="2030-01-01T08:00"' in page  # 00:00 UTC is 08:00 in Asia/Shanghai
    assert "(Asia/Shanghai)" in page


@pytest.mark.django_db(transaction=True)
def test_an_update_reaches_esa_in_utc(
    plan: Plan, operator_client: Client, esa: EsaClient, sim: RunningSimulator, settings: Settings
) -> None:
    settings.PREFETCH_DISPLAY_TIME_ZONE = "America/New_York"
    response = _edit(operator_client, plan, CHANGED)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "job-changed"
    operation = Operation.objects.get(kind="plan_update")
    operation_execute(operation_id=operation.pk, client=esa)
    (call,) = sim.calls("UpdateScheduledPreloadExecution")
    assert (call["params"]["StartTime"], call["params"]["EndTime"]) == (
        "2030-06-01T13:30:00Z",
        "2030-06-01T22:00:00Z",
    )
    updated = Plan.objects.get(pk=plan.pk)
    assert (updated.start_time, updated.interval, updated.slice_len) == (
        datetime(2030, 6, 1, 13, 30, tzinfo=UTC),
        120,
        25,
    )


@pytest.mark.parametrize(
    ("zone", "fields", "message"),
    [
        ("UTC", {"end_time": "2030-01-01T00:00"}, "The end must be after the start."),
        ("UTC", {"start_time": "not a time"}, "Start is not a date and time (YYYY-MM-DD HH:MM)."),
        ("UTC", {"start_time": ""}, "Start is required."),
        ("UTC", {"interval": "0"}, "greater than or equal to 1"),
        ("UTC", {"interval": "-5"}, "greater than or equal to 1"),
        ("UTC", {"interval": "86401"}, "less than or equal to 86400"),
        ("UTC", {"slice_len": "1001"}, "less than or equal to 1000"),
        ("UTC", {"slice_len": "ten"}, "Enter a whole number."),
        ("America/New_York", {"start_time": "2030-03-10T02:30"}, "does not exist in America/New_York"),
        ("America/New_York", {"end_time": "2030-11-03T01:30"}, "happens twice in America/New_York"),
    ],
)
def test_bad_input_gets_a_specific_message_and_changes_nothing(
    plan: Plan, operator_client: Client, settings: Settings, zone: str, fields: dict[str, str], message: str
) -> None:
    settings.PREFETCH_DISPLAY_TIME_ZONE = zone
    data = _fields("2030-01-01T00:00", "2030-12-01T00:00", "60", "10") | fields
    response = _edit(operator_client, plan, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Operation.objects.exists()


def test_read_only_users_cannot_edit(plan: Plan, viewer_client: Client) -> None:
    url = reverse("plan-edit", args=[plan.esa_id])
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, {"interval": "60"}).status_code == 403
    assert not Operation.objects.exists()


def test_a_second_edit_while_one_is_under_way_says_so(plan: Plan, operator_client: Client) -> None:
    assert _edit(operator_client, plan, CHANGED)["HX-Trigger"] == "job-changed"
    second = _edit(operator_client, plan, CHANGED | {"interval": "300"})
    assert "An update of this plan is under way" in second.content.decode()
    assert Operation.objects.count() == 1


def test_a_year_out_of_range_is_refused(plan: Plan, operator_client: Client) -> None:
    response = _edit(operator_client, plan, _fields("0001-01-01T00:00", "2030-06-01T18:00", "60", "5"))
    assert "out of range" in response.content.decode()
    assert not Operation.objects.exists()


def test_a_new_start_in_the_past_is_refused_as_in_the_builder(plan: Plan, operator_client: Client) -> None:
    page = _edit(operator_client, plan, AS_IT_IS | {"start_time": "2020-01-01T08:00"}).content.decode()
    assert "The start is in the past (2020-01-01 08:00 Asia/Shanghai); ESA would run it at once." in page
    assert not Operation.objects.exists()


def test_a_start_left_as_it_is_may_be_in_the_past(plan: Plan, operator_client: Client) -> None:
    Plan.objects.filter(pk=plan.pk).update(start_time=datetime(2020, 1, 1, tzinfo=UTC), status="running")
    _edit(
        operator_client, plan, AS_IT_IS | {"start_time": "2020-01-01T08:00", "end_time": "2030-01-01T10:00"}
    )
    assert Operation.objects.get(kind="plan_update").params["start_time"] == "2020-01-01T00:00:00+00:00"


def test_saving_a_plan_deleted_meanwhile_says_so_in_place(plan: Plan, operator_client: Client) -> None:
    esa_id = plan.esa_id
    plan.delete()
    page = _edit(operator_client, plan, AS_IT_IS).content.decode()
    assert 'data-testid="plan-gone"' in page and esa_id in page
    assert "Your changes were not saved" in page
    assert "<html" not in page  # a fragment for the editor, not a page that replaces the job page
    assert operator_client.post(reverse("plan-edit", args=[esa_id]), {}).status_code == 404
    assert not Operation.objects.exists()
