"""The shared ESA call budget: several processes calling the simulator at once stay within it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from prefetch_ui.esa_sim.testing import RunningSimulator

# The window's margin (a second plus this) covers the time from a call's grant to its arrival at the
# simulator. Production's 30 ms covers a network; on a busy 2-core test machine, process scheduling
# alone delays an arrival by more. What this checks is that the budget paces separate processes
# together, not the machine's jitter, so it gives the margin room.
MARGIN_MS = 150

# One process's share of the load: `calls` ListSites through a budget in the given Redis.
_CALLER = f"""
import sys
from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_budget import EsaCallBudget
redis_url, per_second, endpoint, calls, key_id, secret = sys.argv[1:]
MARGIN_MS = {MARGIN_MS}
budget = EsaCallBudget(
    redis_url=redis_url, calls_per_second=int(per_second), margin_ms=MARGIN_MS, key="test-budget"
)
client = EsaClient(
    endpoint=endpoint, access_key_id=key_id, access_key_secret=secret, rate_gate=budget.acquire
)
with client as esa:
    for _ in range(int(calls)):
        esa.list_sites()
"""


def most_in_any_second(moments: list[float]) -> int:
    """The largest number of moments inside any window of one second."""
    moments = sorted(moments)
    most, first = 0, 0
    for last, moment in enumerate(moments):
        while moment - moments[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_processes_calling_together_never_exceed_the_budget_in_any_second(
    sim: RunningSimulator, broker: str
) -> None:
    per_second, processes, calls_each = 20, 3, 20
    started = time.monotonic()
    callers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [
                sys.executable,
                "-c",
                _CALLER,
                broker,
                str(per_second),
                sim.url,
                str(calls_each),
                sim.access_key_id,
                sim.access_key_secret,
            ],
            env=os.environ | {"PYTHONPATH": os.getcwd()},
        )
        for _ in range(processes)
    ]
    assert [caller.wait(timeout=60) for caller in callers] == [0] * processes
    elapsed = time.monotonic() - started

    arrivals = [call["at"] for call in sim.calls("ListSites")]
    assert len(arrivals) == processes * calls_each
    assert most_in_any_second(arrivals) <= per_second
    # Backoff, not failure: every call was answered, and the budget set the pace.
    assert all(call["status"] == 200 for call in sim.calls("ListSites"))
    assert elapsed >= (processes * calls_each - per_second) / per_second
