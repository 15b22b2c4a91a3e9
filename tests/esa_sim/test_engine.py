"""The plan engine: batches over time, shared progress, finishing and failing."""

from __future__ import annotations

from prefetch_ui.esa_sim.engine import JobProgress, PlanProgress, advance, display_status


def _plan(
    plan_id: str, *, start: float, end: float, interval: int = 10, slice_len: int = 5, seq: int = 1
) -> PlanProgress:
    return PlanProgress(
        id=plan_id,
        seq=seq,
        start_time=start,
        end_time=end,
        interval=interval,
        slice_len=slice_len,
        state="active",
        next_batch_at=start,
    )


def test_a_plan_waits_then_submits_a_batch_every_interval() -> None:
    job = JobProgress(url_count=100, valid_flags="1" * 100)
    plan = _plan("p", start=1000, end=5000)
    advance(job, [plan], 999)
    assert (display_status(plan), job.cursor) == ("waiting", 0)
    advance(job, [plan], 1000)
    assert (display_status(plan), job.cursor) == ("running", 5)
    advance(job, [plan], 1035)  # batches at 1010, 1020, 1030
    assert (job.cursor, job.task_submitted) == (20, 20)


def test_the_plan_finishes_when_the_urls_run_out() -> None:
    job = JobProgress(url_count=12, valid_flags="1" * 12)
    plan = _plan("p", start=0, end=10_000)
    advance(job, [plan], 25)
    assert (display_status(plan), job.cursor) == ("finished", 12)


def test_the_plan_finishes_when_its_window_closes_and_the_next_plan_continues() -> None:
    job = JobProgress(url_count=100, valid_flags="1" * 100)
    first = _plan("a", start=0, end=25, seq=1)  # batches at 0, 10, 20
    second = _plan("b", start=100, end=10_000, seq=2)
    advance(job, [first, second], 50)
    assert (display_status(first), display_status(second), job.cursor) == ("finished", "waiting", 15)
    advance(job, [first, second], 100)
    assert (display_status(second), job.cursor) == ("running", 20)  # continued at URL 15, not 0


def test_catching_up_late_equals_advancing_step_by_step() -> None:
    flags = "1101" * 50
    late_job, step_job = JobProgress(200, flags), JobProgress(200, flags)
    late = [_plan("a", start=0, end=300, seq=1), _plan("b", start=5, end=900, interval=7, slice_len=3, seq=2)]
    step = [_plan("a", start=0, end=300, seq=1), _plan("b", start=5, end=900, interval=7, slice_len=3, seq=2)]
    advance(late_job, late, 600)
    for now in range(0, 601, 13):
        advance(step_job, step, now)
    advance(step_job, step, 600)
    assert (late_job.cursor, late_job.task_submitted) == (step_job.cursor, step_job.task_submitted)
    assert [display_status(plan) for plan in late] == [display_status(plan) for plan in step]


def test_only_valid_urls_count_as_tasks_and_an_all_invalid_plan_fails() -> None:
    job = JobProgress(url_count=10, valid_flags="0000011111")
    first = _plan("a", start=0, end=5, slice_len=5, seq=1)
    second = _plan("b", start=10, end=100, slice_len=5, seq=2)
    advance(job, [first, second], 10)
    assert (display_status(first), display_status(second)) == ("failed", "finished")
    assert (job.cursor, job.task_submitted) == (10, 5)


def test_stopped_plans_do_not_advance() -> None:
    job = JobProgress(url_count=100, valid_flags="1" * 100)
    plan = _plan("p", start=0, end=1000)
    plan.state, plan.next_batch_at = "stopped", None
    advance(job, [plan], 500)
    assert (display_status(plan), job.cursor) == ("stopped", 0)
