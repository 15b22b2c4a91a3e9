"""The one model of how a job's URLs are shared between its plans (`planning.url_shares`): the builder's
preview of a batch and the job page's figures for the same plans agree, every URL is accounted for,
and the counting agrees with playing the batches out one by one."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from prefetch_ui.planning.forecast import ScheduledPlan, job_outlook
from prefetch_ui.planning.plan_math import PlanDraft, preview
from prefetch_ui.planning.url_shares import first_batch_at, url_shares

T0 = datetime(2031, 3, 1, 8, 0, tzinfo=UTC)
STATUSES = ("waiting", "running", "stopped", "finished", "failed")


@dataclass(frozen=True)
class MirrorPlan:
    """A plan as the mirror holds it, before the adapters pick those that will still send."""

    start: datetime
    end: datetime
    interval: int
    slice_len: int
    status: str

    @property
    def open(self) -> bool:
        return self.status in ("waiting", "running")

    def scheduled(self) -> ScheduledPlan:
        return ScheduledPlan(self.start, self.end, self.interval, self.slice_len, self.status == "running")

    def draft(self) -> PlanDraft:
        return PlanDraft(
            self.start, self.end, self.interval, self.slice_len, running=self.status == "running"
        )


@st.composite
def mirror_plans(draw: st.DrawFn) -> MirrorPlan:
    start = T0 + timedelta(seconds=draw(st.integers(-600, 1800)))
    length = timedelta(seconds=draw(st.integers(0, 1800)))
    return MirrorPlan(
        start=start,
        end=start + length,
        interval=draw(st.sampled_from([1, 7, 30, 60, 90, 300])),
        slice_len=draw(st.integers(1, 50)),
        status=draw(st.sampled_from(STATUSES)),
    )


@st.composite
def jobs(draw: st.DrawFn) -> tuple[list[MirrorPlan], int, int, datetime]:
    plans = draw(st.lists(mirror_plans(), max_size=8))
    url_count = draw(st.integers(0, 3000))
    submitted = draw(st.integers(0, url_count))
    now = T0 + timedelta(seconds=draw(st.integers(-300, 900)), microseconds=draw(st.integers(0, 999_999)))
    return plans, url_count, submitted, now


@settings(max_examples=300, deadline=None)
@given(jobs(), st.data())
def test_the_builders_preview_and_the_job_page_say_the_same_of_the_same_plans(
    job: tuple[list[MirrorPlan], int, int, datetime], data: st.DataObject
) -> None:
    plans, url_count, submitted, now = job
    remaining = url_count - submitted
    open_plans = sorted((plan for plan in plans if plan.open), key=lambda plan: plan.start)
    # Some of the open plans are the batch being built; the others are already the job's (the
    # builder plays its rows first, the job page its plans by start: the order must not matter).
    in_batch = data.draw(st.lists(st.booleans(), min_size=len(open_plans), max_size=len(open_plans)))
    rows = [plan for plan, chosen in zip(open_plans, in_batch, strict=True) if chosen]
    existing = [plan for plan, chosen in zip(open_plans, in_batch, strict=True) if not chosen]
    built = preview(
        [plan.draft() for plan in rows],
        remaining_urls=remaining,
        now=now,
        scheduled=[plan.draft() for plan in existing],
    )
    page = job_outlook(remaining_urls=remaining, plans=[plan.scheduled() for plan in open_plans], now=now)
    assert built.shares is not None and page.shares is not None
    # The job as a whole: when its last URL goes, how many have no plan.
    assert (built.shares.sent_by, built.shares.no_plan) == (page.finishes_at, page.unscheduled)
    # Each plan: what the builder's row says is what the job page's ETA of that plan says. (Of
    # identical plans, which one takes a last URL is not theirs to tell apart: compared as a group.)
    built_rows = [(row.urls, row.batches, row.last_batch) for row in built.rows]
    built_existing = [
        (share.urls, share.batches, share.last_batch) for share in built.shares.plans[len(rows) :]
    ]
    built_of = dict(zip(map(id, rows + existing), built_rows + built_existing, strict=True))
    page_of = {
        id(plan): (share.urls, share.batches, share.last_batch)
        for plan, share in zip(open_plans, page.shares.plans, strict=True)
    }
    for group in dict.fromkeys(open_plans):
        same = [plan for plan in open_plans if plan == group]
        assert sorted(built_of[id(plan)] for plan in same) == sorted(page_of[id(plan)] for plan in same), same
    # Every remaining URL is sent by one plan, or has none.
    assert sum(share.urls for share in page.shares.plans) + page.unscheduled == remaining
    assert built.submitted + built.scheduled_urls + built.left_over == remaining
    assert (page.finishes_at is None) == (page.unscheduled > 0 or remaining == 0)


def _played_out(
    plans: list[ScheduledPlan], remaining: int, now: datetime
) -> tuple[list[int], datetime | None]:
    """Each plan's URLs and the last batch's time, batch by batch (ties: the earlier start, then order)."""
    queue: list[tuple[datetime, tuple[datetime, datetime, int, int], int]] = []
    for index, plan in enumerate(plans):
        first = first_batch_at(plan, now)
        if first is not None:
            key = (plan.start, plan.end, plan.interval, plan.slice_len)
            heapq.heappush(queue, (first, key, index))
    urls = [0] * len(plans)
    left, last = remaining, None
    while queue and left > 0:
        moment, key, index = heapq.heappop(queue)
        taken = min(plans[index].slice_len, left)
        left, urls[index], last = left - taken, urls[index] + taken, moment
        following = moment + timedelta(seconds=plans[index].interval)
        if following <= plans[index].end:
            heapq.heappush(queue, (following, key, index))
    return urls, (last if left == 0 and remaining else None)


@settings(max_examples=300, deadline=None)
@given(jobs())
def test_counting_the_batches_agrees_with_playing_them_out(
    job: tuple[list[MirrorPlan], int, int, datetime],
) -> None:
    plans, url_count, submitted, now = job
    scheduled = [plan.scheduled() for plan in plans if plan.open]
    shares = url_shares(remaining_urls=url_count - submitted, plans=scheduled, now=now)
    urls, last = _played_out(scheduled, url_count - submitted, now)
    assert [share.urls for share in shares.plans] == urls
    assert shares.sent_by == last


def test_the_issues_batch_finishes_when_the_builder_said_and_no_plan_ends_short() -> None:
    # 100 URLs; the first plan 10 a minute for 5 minutes, the second from minute 3 to 30.
    first = ScheduledPlan(T0, T0 + timedelta(minutes=5), 60, 10)
    second = ScheduledPlan(T0 + timedelta(minutes=3), T0 + timedelta(minutes=30), 60, 10)
    shares = url_shares(remaining_urls=100, plans=[first, second], now=T0 - timedelta(hours=1))
    assert [(share.urls, share.last_batch) for share in shares.plans] == [
        (60, T0 + timedelta(minutes=5)),
        (40, T0 + timedelta(minutes=6)),
    ]
    assert (shares.sent_by, shares.no_plan) == (T0 + timedelta(minutes=6), 0)
    assert not any(share.window_too_short for share in shares.plans)
    # Two minutes and a second after the first started, with 30 URLs sent: the same answer.
    running = ScheduledPlan(first.start, first.end, 60, 10, running=True)
    later = url_shares(remaining_urls=70, plans=[running, second], now=T0 + timedelta(minutes=2, seconds=1))
    assert later.sent_by == shares.sent_by


def test_plans_that_end_first_leave_urls_with_no_plan() -> None:
    short = ScheduledPlan(T0, T0 + timedelta(minutes=2), 60, 10)  # 3 batches: 30 URLs
    shares = url_shares(remaining_urls=100, plans=[short], now=T0 - timedelta(minutes=1))
    (share,) = shares.plans
    assert (share.urls, share.window_too_short, shares.no_plan, shares.sent_by) == (30, True, 70, None)
    assert shares.last_end == short.end
