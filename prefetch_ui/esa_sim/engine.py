"""How plans advance over simulated time. Pure: no storage, no clock of its own.

A job has an ordered list of URLs and a cursor: the URLs before it are submitted. Each of its
active plans fires a batch at `next_batch_at`, then every `interval` seconds while the batch time
is inside its window; a batch takes the next `slice_len` URLs from the shared cursor, so plans of
one job continue where the previous one left off. A plan finishes when the job has no URLs left or
its window has no more batch times; it is `failed` when it submitted URLs but none was valid.

Because a plan's future is fully determined by its fields, `advance` can be called at any time
for any stretch of time: a simulator that was down catches up on its first read. It returns the
batches it fired, each with its scheduled time (not the time of the read that computed it).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Batch", "JobProgress", "PlanProgress", "advance", "advance_together", "display_status"]


@dataclass(slots=True)
class JobProgress:
    url_count: int
    valid_flags: str  # one "1" (prefetchable) or "0" (refused) per URL, in order
    cursor: int = 0  # URLs submitted
    task_submitted: int = 0  # valid URLs handed to the prefetch system
    quota_refused: int = 0  # valid URLs refused because the site's prefetch quota was used up

    def valid_between(self, start: int, stop: int) -> int:
        return self.valid_flags.count("1", start, stop)


@dataclass(slots=True)
class PlanProgress:
    id: str
    seq: int  # creation order, to break ties between plans firing at the same instant
    start_time: float  # simulated epoch seconds
    end_time: float
    interval: int
    slice_len: int
    state: str  # "active", "stopped", "finished" or "failed"
    next_batch_at: float | None
    fired_since_start: bool = False  # a batch has gone out since the plan was (re)started
    urls_submitted: int = 0
    valid_submitted: int = 0


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch a plan fired: at its scheduled time, `urls` URLs taken from the job's cursor."""

    plan_id: str
    at: float  # simulated epoch seconds
    urls: int
    admitted: int = 0  # valid URLs the quota let through (handed to the prefetch system)
    refused: int = 0  # valid URLs the quota refused


def display_status(plan: PlanProgress) -> str:
    """ESA's Status for a plan: active plans are `running` once a batch has gone out."""
    if plan.state == "active":
        return "running" if plan.fired_since_start else "waiting"
    return plan.state


def _finish(plan: PlanProgress) -> None:
    plan.state = "failed" if plan.urls_submitted > 0 and plan.valid_submitted == 0 else "finished"
    plan.next_batch_at = None


# How many of a batch's valid URLs the prefetch quota admits: (the batch's time, valid URLs) -> admitted.
Admit = Callable[[float, int], int]


def advance(
    job: JobProgress, plans: list[PlanProgress], now: float, *, admit: Admit | None = None
) -> list[Batch]:
    """Fire, in time order, every batch due up to `now`; update job and plans in place.

    With `admit`, a batch's valid URLs beyond what it admits are refused (the quota is used up):
    they count as submitted, not as handed to the prefetch system, and in `job.quota_refused`.
    Returns the batches fired, in the order they went out."""
    return [batch for _, batch in advance_together([(job, plans)], now, admit=admit)]


def advance_together(
    jobs: list[tuple[JobProgress, list[PlanProgress]]], now: float, *, admit: Admit | None = None
) -> list[tuple[int, Batch]]:
    """`advance` for several jobs sharing one quota: their batches go out in one time order.

    A batch charges `admit` when it goes out, so a site's quota is used in the order ESA sends the
    batches, whichever job is computed first. Batches due at the same instant go out in the order
    of `jobs` (the caller's: creation order), then of their plans' `seq`. Returns the batches fired,
    each with the index in `jobs` of the job that fired it, in the order they went out."""
    fired: list[tuple[int, Batch]] = []
    queue: list[tuple[float, int, int, int]] = []
    for job_index, (_, plans) in enumerate(jobs):
        for index, plan in enumerate(plans):
            if plan.state != "active":
                continue
            if plan.next_batch_at is None or plan.next_batch_at > plan.end_time:
                if plan.next_batch_at is None or plan.end_time <= now:
                    _finish(plan)
                continue
            if plan.next_batch_at <= now:
                heapq.heappush(queue, (plan.next_batch_at, job_index, plan.seq, index))
    while queue:
        batch_at, job_index, _, index = heapq.heappop(queue)
        job, plans = jobs[job_index]
        plan = plans[index]
        remaining = job.url_count - job.cursor
        if remaining <= 0:
            _finish(plan)
            continue
        taken = min(plan.slice_len, remaining)
        valid = job.valid_between(job.cursor, job.cursor + taken)
        admitted = valid if admit is None else max(0, min(valid, admit(batch_at, valid)))
        job.cursor += taken
        job.task_submitted += admitted
        job.quota_refused += valid - admitted
        plan.urls_submitted += taken
        plan.valid_submitted += admitted
        plan.fired_since_start = True
        fired.append(
            (
                job_index,
                Batch(plan_id=plan.id, at=batch_at, urls=taken, admitted=admitted, refused=valid - admitted),
            )
        )
        next_at = batch_at + plan.interval
        if job.cursor >= job.url_count or next_at > plan.end_time:
            _finish(plan)
            continue
        plan.next_batch_at = next_at
        if next_at <= now:
            heapq.heappush(queue, (next_at, job_index, plan.seq, index))
    return fired
