"""Generated plans run back to back without sharing an instant: each ends a second before the next
starts (09:00:00-09:59:59), because ESA sends a batch at a plan's end time too (docs/esa-api.md,
batches). The builder says so, and neither those rows nor rows typed with round times end to start
(09:00-10:00, 10:00-11:00) are flagged as overlapping: windows overlap when they share more than
an instant."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from prefetch_ui.planning.plan_math import preview, spread
from prefetch_ui.prefetch.models import Job
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
JOB_ID = "6690cccccccccccccccccccc"
DAY = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%d")


@pytest.fixture
def job() -> Job:
    return JobFactory.create(esa_id=JOB_ID, name="Sale", url_count=1_000)


def _post(client: Client, data: dict[str, object], *, preview: bool = False) -> str:
    url = reverse("plan-builder-preview" if preview else "plan-builder", args=[JOB_ID])
    response = client.post(url, data, headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def _rows(page: str) -> dict[str, object]:
    """The builder's rows as drawn, posted back as they are."""
    data: dict[str, object] = {"zone": "UTC", "form_token": "f" * 24}
    data["row"] = re.findall(r'name="row" value="([a-z0-9]+)"', page)
    fields = r'name="((?:start|end|interval|slice_len)-[a-z0-9]+)" value="([^"]*)"'
    data |= dict(re.findall(fields, page))
    return data


def test_the_builder_says_why_generated_rows_end_a_second_early(job: Job, operator_client: Client) -> None:
    page = operator_client.get(reverse("plan-builder", args=[JOB_ID])).content.decode()
    assert "each ending one second before the next starts" in page
    assert "ESA sends a batch at a plan's end time too" in page


def test_generated_rows_end_a_second_early_and_are_not_flagged_as_overlapping(
    job: Job, operator_client: Client
) -> None:
    page = _post(
        operator_client,
        {
            "zone": "UTC",
            "form_token": "f" * 24,
            "action": "generate",
            "gen_mode": "spread",
            "gen_start": f"{DAY}T09:00",
            "gen_end": f"{DAY}T12:00",
            "gen_plans": "3",
            "gen_interval": "60",
        },
    )
    rows = _rows(page)
    ends = sorted(str(value) for name, value in rows.items() if name.startswith("end-"))
    assert ends == [f"{DAY}T09:59:59", f"{DAY}T10:59:59", f"{DAY}T12:00"]
    assert "Overlaps" not in _post(operator_client, rows, preview=True)


def test_rows_typed_end_to_start_with_round_times_are_not_flagged_as_overlapping(
    job: Job, operator_client: Client
) -> None:
    rows: dict[str, object] = {"zone": "UTC", "form_token": "f" * 24, "row": ["a1", "b2"]}
    for row_id, (start, end) in {"a1": ("09:00", "10:00"), "b2": ("10:00", "11:00")}.items():
        rows |= {
            f"start-{row_id}": f"{DAY}T{start}",
            f"end-{row_id}": f"{DAY}T{end}",
            f"interval-{row_id}": "60",
            f"slice_len-{row_id}": "1",
        }
    assert "Overlaps" not in _post(operator_client, rows, preview=True)
    rows["end-a1"] = f"{DAY}T10:00:01"  # one second more: they share a second
    assert "Overlaps row 2 of this batch" in _post(operator_client, rows, preview=True)


def test_generated_plans_never_send_at_the_same_instant() -> None:
    start = datetime(2031, 6, 1, 9, tzinfo=UTC)
    end = start + timedelta(hours=3)
    drafts = spread(remaining_urls=10_000, start=start, end=end, plans=3, interval=60, max_slice_len=1000)
    instants = [
        draft.start + timedelta(seconds=draft.interval * batch)
        for draft in drafts
        for batch in range(draft.batch_times)
    ]
    assert len(instants) == len(set(instants))
    drawn = preview(drafts, remaining_urls=10_000, now=start - timedelta(days=1))
    assert not [warning for row in drawn.rows for warning in row.warnings if warning.startswith("Overlaps")]
