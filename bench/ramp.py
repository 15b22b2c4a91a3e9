"""Time the resume's ramp (prefetch_ui/planning/ramp.py) on 1,000 plans: it runs in a web request.

    .venv/bin/python -m bench.ramp

Prints CPU and wall-clock milliseconds per ramp; never fails on a timing (a busy machine is not a
regression). Three workloads, each under caps from the least one accepted to half the burst:
- "resume": 1,000 plans whose starts all passed during the hold (the case a ramp is for), windows
  of 1-3 hours, intervals uniform in 1-3600 s, 50 jobs;
- "log-intervals": the same with intervals log-uniform in 1-3600 s (far more short ones);
- "dense": the same with every interval under a minute, the costliest profiles.
Under the least cap the plans queue for days: the worst case, not a realistic one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prefetch_ui.planning.ramp import ResumedPlan, minimum_cap, ramp_windows, scheduled_peak

NOW = datetime(2026, 12, 7, 2, 0, 17, 250_000, tzinfo=UTC)
EPOCH = datetime(2026, 12, 7, 2, 2, tzinfo=UTC)
PLANS = 1000
JOBS = 50

WORKLOADS: dict[str, Callable[[random.Random], int]] = {
    "resume": lambda rng: rng.randint(1, 3600),
    "log-intervals": lambda rng: max(1, round(3600 ** rng.random())),
    "dense": lambda rng: rng.randint(1, 59),
}


def resumed_plans(*, interval: Callable[[random.Random], int], seed: int) -> list[ResumedPlan]:
    rng = random.Random(seed)  # noqa: S311 (made-up plans, not secrets)
    plans = []
    for number in range(PLANS):
        start = NOW.replace(microsecond=0) - timedelta(seconds=rng.randint(1, 7200))
        plans.append(
            ResumedPlan(
                key=f"plan-{number:08d}",
                job=f"job-{number % JOBS}",
                start=start,
                end=NOW.replace(microsecond=0) + timedelta(seconds=rng.randint(3600, 3 * 3600)),
                interval=interval(rng),
                slice_len=rng.randint(1, 50),
            )
        )
    return plans


def main() -> None:
    remaining = {f"job-{number}": 10**7 for number in range(JOBS)}
    for name, interval in WORKLOADS.items():
        plans = resumed_plans(interval=interval, seed=7)
        burst = scheduled_peak(plans=plans, remaining_urls=remaining, now=NOW, until=NOW + timedelta(hours=4))
        least = minimum_cap(plans=plans)
        for cap in sorted({least, max(least, burst // 4), max(least, burst // 2)}):
            cpu, wall = time.process_time(), time.perf_counter()
            ramp = ramp_windows(plans=plans, remaining_urls=remaining, cap=cap, now=NOW, epoch=EPOCH)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            spread = (
                "none"
                if ramp.last_start is None
                else f"{(ramp.last_start - EPOCH) / timedelta(hours=1):.1f} h"
            )
            print(
                f"{name:14} burst {burst:6}/min cap {cap:6}: {cpu * 1000:5.0f} ms CPU "
                f"{wall * 1000:5.0f} ms wall, last delayed start after {spread}"
            )


if __name__ == "__main__":
    main()
