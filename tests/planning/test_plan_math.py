"""The batch arithmetic: previews and generated plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from prefetch_ui.planning.plan_math import (
    EN_DASH,
    GeneratorError,
    PlanDraft,
    Window,
    finish_by,
    preview,
    spread,
    unscheduled_urls,
)

T0 = datetime(2031, 3, 1, 0, 0, tzinfo=UTC)
BEFORE = T0 - timedelta(hours=1)


def _draft(start_min: float, end_min: float, interval: int = 60, slice_len: int = 10) -> PlanDraft:
    return PlanDraft(T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min), interval, slice_len)


def test_a_plan_submits_a_batch_at_its_start_and_every_interval() -> None:
    result = preview([_draft(0, 60)], remaining_urls=95, now=BEFORE)
    (row,) = result.rows
    assert (row.urls, row.batches) == (95, 10)  # 9 full batches of 10 and one of 5
    assert (row.first_batch, row.last_batch) == (T0, T0 + timedelta(minutes=9))
    assert row.time_needed == timedelta(minutes=9)
    assert (result.submitted, result.left_over, result.finishes_at) == (95, 0, T0 + timedelta(minutes=9))
    assert row.warnings == []


def test_plans_share_the_job_in_time_order() -> None:
    result = preview([_draft(30, 90), _draft(0, 5)], remaining_urls=100, now=BEFORE)
    early_first = result.rows[1]
    assert early_first.urls == 60  # batches at 0..5 min
    assert result.rows[0].urls == 40  # picks up where the early plan left off


def test_a_window_too_short_warns_and_counts_what_is_left() -> None:
    result = preview([_draft(0, 4)], remaining_urls=100, now=BEFORE)
    (row,) = result.rows
    assert (row.urls, row.batches) == (50, 5)
    assert "Cannot finish its share before its end time: its window fits 5 batches (50 URLs)." in row.warnings
    assert result.left_over == 50
    assert result.warnings == ["Will not finish: 50 URLs have no plan."]


def test_a_start_in_the_past_warns_and_runs_from_now() -> None:
    result = preview([_draft(-30, 60)], remaining_urls=10, now=T0)
    (row,) = result.rows
    assert row.first_batch == T0
    assert row.warnings == ["Starts 30 min 00 s in the past: ESA runs it at once."]


def test_overlaps_within_the_batch_and_with_the_site_are_named() -> None:
    site_plan = Window(T0 + timedelta(minutes=50), T0 + timedelta(hours=2), "plan 665d… of “Homepage”")
    result = preview(
        [_draft(0, 60), _draft(30, 90)],
        remaining_urls=10_000,
        now=BEFORE,
        others=[site_plan],
        labels=["A", "B"],
    )
    assert "Overlaps B of this batch." in result.rows[0].warnings
    assert "Overlaps A of this batch." in result.rows[1].warnings
    assert "Overlaps plan 665d… of “Homepage” on this site." in result.rows[0].warnings


def test_overlaps_with_many_plans_are_one_line_with_their_count_and_shared_span() -> None:
    # Five plans of the site overlap the first row (00:00-02:00 UTC); they share 01:00-02:00 with
    # it, which is 09:00-10:00 in Shanghai. The batch's two other rows overlap it: one line too.
    site_plans = [
        Window(T0 + timedelta(hours=1), T0 + timedelta(hours=3, minutes=n), f"plan …{n}") for n in range(5)
    ]
    result = preview(
        [_draft(0, 120), _draft(30, 90), _draft(60, 150)],
        remaining_urls=10_000,
        now=BEFORE,
        others=site_plans,
        labels=["row 1", "row 2", "row 3"],
        zone=ZoneInfo("Asia/Shanghai"),
    )
    overlaps = [warning for warning in result.rows[0].warnings if warning.startswith("Overlaps")]
    assert overlaps == [
        "Overlaps row 2, row 3 of this batch.",
        f"Overlaps 5 plans of this site, 09:00{EN_DASH}10:00.",
    ]


def test_a_plan_after_the_urls_run_out_submits_nothing() -> None:
    result = preview([_draft(0, 60), _draft(120, 180)], remaining_urls=20, now=BEFORE)
    assert result.rows[1].urls == 0
    assert result.rows[1].warnings == ["Submits nothing: the job's URLs run out before it starts."]


def test_spread_makes_back_to_back_plans_that_submit_everything() -> None:
    drafts = spread(
        remaining_urls=1_000, start=T0, end=T0 + timedelta(hours=3), plans=3, interval=60, max_slice_len=1_000
    )
    assert [draft.start for draft in drafts] == [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    assert drafts[0].end == T0 + timedelta(minutes=59, seconds=59)
    assert drafts[-1].end == T0 + timedelta(hours=3)
    assert all(draft.slice_len == 6 for draft in drafts)  # 334 each over 60 batch times → 6 a batch
    result = preview(drafts, remaining_urls=1_000, now=BEFORE)
    assert (result.left_over, result.warnings) == (0, [])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"plans": 0}, "at least one plan"),
        ({"end": T0}, "end must be after its start"),
        ({"remaining_urls": 0}, "no URLs left"),
        ({"interval": 0}, "at least 1 second"),
        ({"remaining_urls": 10_000_000}, "more than the maximum of 1000"),
    ],
)
def test_spread_explains_what_it_cannot_do(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "remaining_urls": 1_000,
        "start": T0,
        "end": T0 + timedelta(hours=1),
        "plans": 2,
        "interval": 60,
        "max_slice_len": 1_000,
    } | kwargs
    with pytest.raises(GeneratorError, match=message):
        spread(**arguments)  # type: ignore[arg-type]


def test_finish_by_respects_the_rate_and_the_deadline() -> None:
    (draft,) = finish_by(
        remaining_urls=1_000,
        start=T0,
        deadline=T0 + timedelta(hours=2),
        max_urls_per_minute=100,
        interval=30,
        max_slice_len=1_000,
    )
    assert (draft.interval, draft.slice_len, draft.end) == (30, 50, T0 + timedelta(hours=2))
    assert draft.slice_len * 60 / draft.interval <= 100
    result = preview([draft], remaining_urls=1_000, now=BEFORE)
    assert result.finishes_at == T0 + timedelta(seconds=19 * 30)  # 20 batches of 50
    assert result.left_over == 0


@pytest.mark.parametrize(
    ("remaining_urls", "deadline", "max_urls_per_minute", "interval", "message"),
    [
        pytest.param(
            6_000, T0 + timedelta(minutes=59), 50, 60, "ends 1 h 00 min after the deadline", id="too slow"
        ),
        pytest.param(
            10, T0 + timedelta(hours=1), 1, 30, "interval of at least 60 s", id="interval too short"
        ),
    ],
)
def test_finish_by_says_when_the_deadline_cannot_be_met(
    remaining_urls: int, deadline: datetime, max_urls_per_minute: int, interval: int, message: str
) -> None:
    with pytest.raises(GeneratorError, match=message):
        finish_by(
            remaining_urls=remaining_urls,
            start=T0,
            deadline=deadline,
            max_urls_per_minute=max_urls_per_minute,
            interval=interval,
            max_slice_len=1_000,
        )


def test_plans_already_scheduled_take_their_share_first() -> None:
    # The job's waiting plan fires from minute 0, the new row from minute 30: 10 a batch each.
    result = preview(
        [_draft(30, 60)], remaining_urls=100, now=BEFORE, scheduled=[_draft(0, 600, slice_len=10)]
    )
    (row,) = result.rows
    # The waiting plan takes 10 a minute from minute 0: by minute 10 all 100 are gone.
    assert (result.scheduled_urls, row.urls, result.submitted, result.left_over) == (100, 0, 0, 0)
    assert "Submits nothing: the job's URLs run out before it starts." in row.warnings


def test_a_scheduled_plan_and_a_row_share_the_list_in_time_order() -> None:
    result = preview(
        [_draft(0, 4, slice_len=10)], remaining_urls=100, now=BEFORE, scheduled=[_draft(2, 3, slice_len=20)]
    )
    # Row: minutes 0..4 → 5 batches of 10; scheduled: minutes 2 and 3 → 2 batches of 20.
    assert (result.submitted, result.scheduled_urls, result.left_over) == (50, 40, 10)
    assert unscheduled_urls(remaining_urls=100, scheduled=[_draft(2, 3, slice_len=20)], now=BEFORE) == 60
