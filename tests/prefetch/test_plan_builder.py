"""The batch plan builder over HTTP: rows kept while editing, generator, preview, one submission."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from prefetch_ui.prefetch.models import Job, Operation
from tests.factories import JobFactory, PlanFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
JOB_ID = "6650cccccccccccccccccccc"


@pytest.fixture
def job() -> Job:
    return JobFactory.create(esa_id=JOB_ID, name="Sale", url_count=1_000, url_submitted=100)


def _future(days: int = 10, hour: int = 9) -> str:
    moment = (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _form(rows: dict[str, dict[str, str]], zone: str = "UTC", **extra: str) -> dict[str, object]:
    data: dict[str, object] = {"zone": zone, "form_token": "f" * 24, "row": list(rows), **extra}
    for row_id, fields in rows.items():
        for name, value in fields.items():
            data[f"{name}-{row_id}"] = value
    return data


def _row(start: str, end: str, interval: str = "60", slice_len: str = "10") -> dict[str, str]:
    return {"start": start, "end": end, "interval": interval, "slice_len": slice_len}


def _generate(
    mode: str, *, interval: str = "60", rows: dict[str, dict[str, str]] | None = None, **fields: str
) -> dict[str, object]:
    """The generator asked for plans, `spread` or `finish_by`: `start=` becomes `gen_start`, and so on."""
    generator = {f"gen_{name}": value for name, value in fields.items()}
    return _form(rows or {}, action="generate", gen_mode=mode, gen_interval=interval, **generator)


def _waiting_plan(job: Job, esa_id: str, start: datetime, length: timedelta, *, slice_len: int) -> None:
    """A plan of the job's that ESA has yet to start: `slice_len` URLs a minute from `start`."""
    PlanFactory.create(
        esa_id=esa_id,
        job=job,
        start_time=start,
        end_time=start + length,
        interval=60,
        slice_len=slice_len,
        status="waiting",
    )


def _post(client: Client, data: dict[str, object], *, preview: bool = False) -> str:
    """The builder's answer to an htmx POST (to the preview with `preview`), which must be a 200."""
    url = reverse("plan-builder-preview" if preview else "plan-builder", args=[JOB_ID])
    response = client.post(url, data, headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def test_the_builder_starts_with_one_row_in_the_display_zone(job: Job, operator_client: Client) -> None:
    page = operator_client.get(reverse("plan-builder", args=[JOB_ID])).content.decode()
    assert page.count('name="row"') == 1
    assert "Start (Asia/Shanghai)" in page
    assert "900 of 1000 URLs still to prefetch" in page


def test_add_duplicate_and_remove_keep_what_was_typed(job: Job, operator_client: Client) -> None:
    typed = {"a1": _row(_future(), _future(11), "45", "7")}
    added = _post(operator_client, _form(typed, action="add"))
    assert added.count('name="row"') == 2
    assert 'value="45"' in added and 'value="7"' in added  # row 1 kept; row 2 follows its pace
    duplicated = _post(operator_client, _form(typed, action="duplicate:a1"))
    assert duplicated.count('value="45"') == 2
    assert duplicated.count(f'value="{_future()}"') == 2
    removed = _post(
        operator_client, _form(typed | {"b2": _row(_future(20), _future(21))}, action="remove:a1")
    )
    assert removed.count('name="row"') == 1
    assert 'value="45"' not in removed


def test_the_generator_fills_rows(job: Job, operator_client: Client) -> None:
    page = _post(operator_client, _generate("spread", start=_future(3, 0), end=_future(3, 3), plans="3"))
    assert page.count('name="row"') == 3
    assert page.count('value="5"') == 3  # 300 URLs each over ~60 batch times → 5 a batch


def test_the_generator_explains_an_impossible_request(job: Job, operator_client: Client) -> None:
    page = _post(
        operator_client, _generate("finish_by", start=_future(3, 0), deadline=_future(3, 1), rate="1")
    )
    assert "after the deadline" in page


def test_the_preview_counts_and_warns(job: Job, operator_client: Client) -> None:
    # The job's waiting plan overlaps the row, starting half-way through it: for an hour it takes
    # 1 URL a minute from the same list, and leaves the row all it asks for.
    waiting_from = datetime.fromisoformat(_future(10, 9)).replace(tzinfo=UTC) + timedelta(minutes=30)
    _waiting_plan(job, "6650dddddddddddd1234abcd", waiting_from, timedelta(hours=1), slice_len=1)
    rows = {"a1": _row(_future(10, 9), _future(10, 10), "60", "5")}
    page = _post(operator_client, _form(rows), preview=True)
    assert "<td>305</td><td>61</td>" in page.replace("\n", "").replace(" ", "")  # 61 batches of 5 URLs
    # Named by the end of its id, as the job page names it (plans made in one second share the start).
    assert "Overlaps plan …1234abcd of “Sale” (waiting) on this site." in page
    assert re.search(r"Will not finish: \d+ URLs have no plan", page)


@pytest.mark.django_db(transaction=True)
def test_submitting_creates_one_operation_with_utc_times(job: Job, operator_client: Client) -> None:
    rows = {
        "a1": _row("2031-03-01T09:00", "2031-03-01T10:00"),
        "b2": _row("2031-03-02T09:00", "2031-03-02T10:00"),
    }
    response = operator_client.post(
        reverse("plan-builder", args=[JOB_ID]),
        _form(rows, zone="Asia/Shanghai", action="submit"),
        headers=HTMX,
    )
    assert response["HX-Redirect"] == reverse("job-detail", args=[JOB_ID])
    again = operator_client.post(
        reverse("plan-builder", args=[JOB_ID]),
        _form(rows, zone="Asia/Shanghai", action="submit"),
        headers=HTMX,
    )
    assert again.status_code == 200
    (operation,) = Operation.objects.all()
    assert operation.kind == "plans_create"
    assert [(row["row"], row["start_time"]) for row in operation.params["rows"]] == [
        ("a1", "2031-03-01T01:00:00+00:00"),
        ("b2", "2031-03-02T01:00:00+00:00"),
    ]


PAST = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize(
    ("rows", "zone", "message"),
    [
        ({"a1": _row(_future(), _future(-5))}, "UTC", "The end must be after the start."),
        ({"a1": _row(_future(), _future())}, "UTC", "The end must be after the start."),
        ({"a1": _row(PAST, _future())}, "UTC", "The start is in the past"),
        ({"a1": _row(_future(), _future(11), "0")}, "UTC", "Interval must be at least 1."),
        ({"a1": _row(_future(), _future(11), "-30")}, "UTC", "Interval must be at least 1."),
        ({"a1": _row(_future(), _future(11), "60", "0")}, "UTC", "Batch size must be at least 1."),
        ({"a1": _row(_future(), _future(11), "60", "-1")}, "UTC", "Batch size must be at least 1."),
        ({"a1": _row(_future(), _future(11), "86401")}, "UTC", "Interval must be at most 86400."),
        ({"a1": _row(_future(), _future(11), "60", "1001")}, "UTC", "Batch size must be at most 1000."),
        ({"a1": _row(_future(), _future(11), "1.5")}, "UTC", "Interval must be a whole number."),
        ({"a1": _row(_future(), _future(11), "")}, "UTC", "Interval is required."),
        ({"a1": _row("tomorrow", _future(11))}, "UTC", "Start is not a date and time"),
        ({"a1": _row("", _future(11))}, "UTC", "Start is required."),
        ({"a1": _row("2031-02-30T09:00", _future(11))}, "UTC", "Start is not a date and time"),
        ({"a1": _row(_future(), _future(11))}, "Mars/Olympus_Mons", "is not a time zone this server knows"),
        (
            {"a1": _row(_future(), _future(11))},
            "<script>alert(1)</script>",
            "is not a time zone this server knows",
        ),
        (
            {"a1": _row("2031-03-09T02:30", "2031-03-09T05:00")},
            "America/New_York",
            "does not exist in America/New_York",
        ),
        (
            {"a1": _row("2031-11-02T01:30", "2031-11-02T05:00")},
            "America/New_York",
            "happens twice in America/New_York",
        ),
        ({}, "UTC", "Add at least one plan."),
    ],
)
def test_bad_rows_get_a_specific_message_and_nothing_is_sent(
    job: Job, operator_client: Client, rows: dict[str, dict[str, str]], zone: str, message: str
) -> None:
    page = _post(operator_client, _form(rows, zone=zone, action="submit"))
    assert message in page
    assert "<script>alert(1)</script>" not in page
    assert not Operation.objects.exists()


def test_read_only_users_cannot_use_the_builder(job: Job, viewer_client: Client) -> None:
    assert viewer_client.get(reverse("plan-builder", args=[JOB_ID])).status_code == 403
    assert (
        viewer_client.post(reverse("plan-builder", args=[JOB_ID]), _form({}, action="submit")).status_code
        == 403
    )
    assert viewer_client.post(reverse("plan-builder-preview", args=[JOB_ID]), _form({})).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_batch_already_sent_is_not_sent_again_from_the_same_form(job: Job, operator_client: Client) -> None:
    rows = {"a1": _row("2031-03-01T09:00", "2031-03-01T10:00")}
    operator_client.post(reverse("plan-builder", args=[JOB_ID]), _form(rows, action="submit"), headers=HTMX)
    Operation.objects.update(status="succeeded")  # the worker has done it
    page = _post(operator_client, _form(rows, action="submit"))
    assert "This batch was already sent to ESA" in page
    assert Operation.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _form(
                {"a1": _row("0001-01-01T00:00", "0001-01-02T00:00")}, zone="Asia/Shanghai", action="submit"
            ),
            "out of range",
        ),
        (
            _form(
                {"a1": _row("9999-12-31T22:00", "9999-12-31T23:00")}, zone="America/New_York", action="submit"
            ),
            "out of range",
        ),
        (
            _generate(
                "finish_by",
                start="2031-01-01T00:00",
                deadline="2031-01-02T00:00",
                rate="10",
                interval="1000000000000000",
            ),
            "whole number below 1,000,000,000",
        ),
        (
            _generate(
                "spread",
                start="2031-01-01T00:00",
                end="2031-01-02T00:00",
                plans="2",
                interval="999999",
            ),
            "at most 86400 seconds",
        ),
    ],
)
def test_extreme_values_get_a_message_not_a_500(
    job: Job, operator_client: Client, data: dict[str, object], message: str
) -> None:
    assert message in _post(operator_client, data)
    _post(operator_client, data, preview=True)  # a 200 too
    assert not Operation.objects.exists()


def test_a_fix_link_with_an_odd_id_shows_an_empty_builder(job: Job, operator_client: Client) -> None:
    for odd in ("²", "-1", "99999999999999999999999", "abc"):
        response = operator_client.get(reverse("plan-builder", args=[JOB_ID]) + f"?fix={odd}")
        assert response.status_code == 200
        assert response.content.decode().count('name="row"') == 1


def _rows(count: int, *, day: int = 10) -> dict[str, dict[str, str]]:
    """`count` valid, back-to-back rows of 10 minutes each."""
    start = datetime.fromisoformat(_future(day, 0)).replace(tzinfo=UTC)
    return {
        f"r{index}": _row(
            (start + timedelta(minutes=10 * index)).strftime("%Y-%m-%dT%H:%M"),
            (start + timedelta(minutes=10 * index + 9)).strftime("%Y-%m-%dT%H:%M"),
        )
        for index in range(count)
    }


def test_a_batch_over_the_row_limit_is_refused_whole_never_trimmed(job: Job, operator_client: Client) -> None:
    page = _post(operator_client, _form(_rows(51), action="submit"))
    assert page.count('name="row"') == 51  # every row typed is still there
    assert "A batch holds at most 50 plans and this one would have 51: remove 1" in page
    assert not Operation.objects.exists()


def test_adding_past_the_row_limit_says_so_and_adds_nothing(job: Job, operator_client: Client) -> None:
    page = _post(operator_client, _form(_rows(50), action="add"))
    assert page.count('name="row"') == 50
    assert "A batch holds at most 50 plans and this one would have 51" in page


def test_a_batch_that_would_take_the_job_past_its_plan_limit_is_refused(
    job: Job, operator_client: Client, settings: Settings
) -> None:
    settings.PREFETCH_MAX_PLANS_PER_JOB = 3
    for index in range(2):
        PlanFactory.create(
            esa_id=f"6650eeeeeeeeeeeeeeeeeee{index}",
            job=job,
            start_time=None,  # and so no end either
            interval=60,
            slice_len=10,
            status="finished",
        )
    page = _post(operator_client, _form(_rows(2), action="submit"))
    assert "This job has 2 plans and ESA takes at most 3 a job: there is room for 1 more" in page
    assert not Operation.objects.exists()


@pytest.mark.parametrize(
    "typed",
    ["2031-03-01T09:00Z", "2031-03-01T09:00+08:00", "2031-03-01T09:00 tomorrow", "2031-03-01T09:00:00.5"],
)
def test_a_time_with_anything_after_it_is_refused_not_cut(
    job: Job, operator_client: Client, typed: str
) -> None:
    page = _post(operator_client, _form({"a1": _row(typed, "2031-03-01T10:00")}, action="submit"))
    assert "Start is not a date and time (YYYY-MM-DD HH:MM). You typed" in page
    assert not Operation.objects.exists()


def test_switching_the_zone_keeps_the_instants_and_only_in_the_builder(
    job: Job, operator_client: Client
) -> None:
    data = _form({"a1": _row("2031-06-01T09:00", "2031-06-01T10:30")}, zone="UTC", action="zone")
    data |= {"rows_zone": "Europe/London", "gen_start": "2031-06-02T12:00"}
    page = _post(operator_client, data)
    # 09:00 in London (UTC+1 in June) is 08:00 UTC: the same instant, shown in the new zone.
    assert 'value="2031-06-01T08:00"' in page and 'value="2031-06-01T09:30"' in page
    assert 'value="2031-06-02T11:00"' in page  # the generator's times move too
    assert "converted from Europe/London" in page
    assert "display_zone" not in operator_client.session  # other pages keep the operator's zone


def test_the_generator_plans_only_what_open_plans_and_typed_rows_leave(
    job: Job, operator_client: Client
) -> None:
    # 900 URLs remain. A waiting plan will submit 10 a minute for 31 minutes (310),
    # the typed row 10 a minute for 10 minutes (100).
    start = datetime.fromisoformat(_future(5, 0)).replace(tzinfo=UTC)
    _waiting_plan(job, "6650ffffffffffffffffffff", start, timedelta(minutes=30), slice_len=10)
    assert (
        "the job's open plans will submit 310"
        in operator_client.get(reverse("plan-builder", args=[JOB_ID])).content.decode()
    )
    typed = {"a1": _row(_future(6, 0), _future(6, 0).replace("T00:00", "T00:09"))}
    page = _post(
        operator_client,
        _generate("finish_by", start=_future(7, 0), deadline=_future(8, 0), rate="60", rows=typed),
    )
    # One plan of 60 URLs a minute for the 490 left: 9 batches, the last 8 minutes after its start.
    assert page.count('name="row"') == 2
    assert 'value="60"' in page
    preview_page = _post(operator_client, _form(typed), preview=True)
    assert "The batch submits <strong>100</strong> of 900 remaining URLs" in preview_page
