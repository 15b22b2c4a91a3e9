"""The shared ESA call budget: several processes calling the simulator at once stay within it; an
incident's callers go first while they wait; the margin's arithmetic. Real Redis, real threads and
processes."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import redis

from prefetch_ui import esa_budget
from prefetch_ui.esa_budget import EsaCallBudget, Priority
from prefetch_ui.esa_settings import esa_client_from_settings
from prefetch_ui.esa_sim import SimConfig
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator
from tests.polling import eventually

# Any margin: what the processes' test checks is the budget's own promise, on Redis's clock.
MARGIN_MS = 150

# One process's share of the load: `calls` ListSites through a budget in the given Redis; it prints
# the Redis time of each grant.
_CALLER = f"""
import sys
from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_budget import EsaCallBudget
redis_url, per_second, endpoint, calls, key_id, secret = sys.argv[1:]
MARGIN_MS = {MARGIN_MS}
budget = EsaCallBudget(
    redis_url=redis_url, calls_per_second=int(per_second), margin_ms=MARGIN_MS, key="test-budget"
)
def granted():
    print(repr(budget.acquire()), flush=True)
client = EsaClient(endpoint=endpoint, access_key_id=key_id, access_key_secret=secret, rate_gate=granted)
with client as esa:
    for _ in range(int(calls)):
        esa.list_sites()
"""


def most_in_any_second(moments: list[float]) -> int:
    """The largest number of moments (epoch seconds) inside any window of one second."""
    return _most_in_any_window([round(moment * 1_000_000) for moment in moments], 1_000_000)


def _most_in_any_window(moments_us: list[int], window_us: int) -> int:
    """The most moments inside any half-open window (t - window, t]: how ESA's gateway counts."""
    moments_us = sorted(moments_us)
    most, first = 0, 0
    for last, moment in enumerate(moments_us):
        while moment - moments_us[first] >= window_us:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_processes_calling_together_never_exceed_the_budget_in_any_window(
    sim: RunningSimulator, broker: str
) -> None:
    per_second, processes, calls_each = 20, 3, 20
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
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    outputs = [caller.communicate(timeout=60)[0] for caller in callers]
    assert [caller.returncode for caller in callers] == [0] * processes

    grants = [round(float(line) * 1_000_000) for output in outputs for line in output.split()]
    assert len(grants) == processes * calls_each
    # The promise, on Redis's clock: no window of a second plus the margin holds more than the
    # budget, from all processes together. (Where the simulator counts the arrivals, a busy machine's
    # stalls bunch them too; the margin's test below covers that part.)
    assert _most_in_any_window(grants, (1000 + MARGIN_MS) * 1000) <= per_second
    # Backoff, not failure: every call was answered.
    calls = sim.calls("ListSites")
    assert len(calls) == processes * calls_each
    assert all(call["status"] == 200 for call in calls)


def _budget(
    broker: str, *, calls_per_second: int, margin_ms: int = 0, clock: ManualClock | None = None
) -> EsaCallBudget:
    """A budget of its own in the session's Redis (a fresh key: no other test's calls in it), on
    Redis's clock or on `clock`, which moves only when the test moves it."""
    return EsaCallBudget(
        redis_url=broker,
        calls_per_second=calls_per_second,
        margin_ms=margin_ms,
        key=uuid.uuid4().hex,
        clock=clock,
    )


# A pace of one call a minute (a second plus a margin of 59): on a clock the test moves, the next
# slot is as far off as the test says; and the budget's keys, which expire on Redis's own clock,
# outlive any stall of the machine running the test.
MINUTE_MARGIN_MS = 59_000


def _redis_now_us(connection: redis.Redis) -> int:
    seconds, microseconds = connection.time()
    return seconds * 1_000_000 + microseconds


def test_while_incident_callers_wait_routine_callers_get_no_slot(
    broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between its slot and its next try an incident caller is not registered; a routine caller
    # takes a slot only if all three are between the two at once, so each slot is 250 ms apart (a
    # thread would have to stall for two of them), and a registration outlives any stall.
    monkeypatch.setattr(esa_budget, "_WAITER_TTL_MS", 600_000)
    budget = _budget(broker, calls_per_second=4)
    grants: list[tuple[float, Priority]] = []  # (Redis time of the grant, who got it)
    incidents_stop, routines_stop = threading.Event(), threading.Event()

    def caller(priority: Priority, stop: threading.Event) -> None:
        while not stop.is_set():
            grants.append((budget.acquire(priority=priority), priority))

    def of(priority: Priority) -> list[float]:
        return sorted(at for at, who in list(grants) if who == priority)

    routines = [threading.Thread(target=caller, args=("routine", routines_stop)) for _ in range(3)]
    for thread in routines:
        thread.start()
    eventually(lambda: len(of("routine")) >= 5)  # the routine callers have the budget to themselves
    incidents = [threading.Thread(target=caller, args=("incident", incidents_stop)) for _ in range(3)]
    for thread in incidents:
        thread.start()
    eventually(lambda: len(of("incident")) >= 15, timeout=60)
    incidents_stop.set()
    for thread in incidents:
        thread.join(timeout=30)
    last_incident = of("incident")[-1]
    # Once no incident caller waits, routine callers have the whole budget again.
    eventually(lambda: len([at for at in of("routine") if at > last_incident]) >= 3, timeout=60)
    routines_stop.set()
    for thread in routines:
        thread.join(timeout=30)

    # From the incident callers' first slot to their fifteenth, all three were waiting all along
    # (each asks again as soon as it has a slot): every slot in between went to one of them.
    first, fifteenth = of("incident")[0], of("incident")[14]
    assert [who for at, who in sorted(grants) if first <= at <= fifteenth] == ["incident"] * 15
    assert [at for at in of("routine") if at < first]


def test_routine_callers_take_every_slot_no_incident_caller_waits_for(
    broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a clock the test moves: a slot comes when the test says, not when this thread wakes up. A
    # registration outlives the minute the clock moves to the next slot (the expiry is tested below).
    monkeypatch.setattr(esa_budget, "_WAITER_TTL_MS", 600_000)
    clock = ManualClock()
    budget = _budget(broker, calls_per_second=1, margin_ms=MINUTE_MARGIN_MS, clock=clock)
    spacing = budget.spacing_us / 1_000_000

    granted_at, wait = budget.try_acquire(token="routine-1")
    assert granted_at and not wait
    # Nothing is reserved: with no incident caller waiting, a routine caller takes the next slot.
    clock.forward(budget.try_acquire(token="routine-2")[1])
    granted_at, wait = budget.try_acquire(token="routine-2")
    assert granted_at and not wait
    # An incident caller finds no slot and waits: the next slot is not a routine caller's...
    _, wait = budget.try_acquire(token="incident-1", priority="incident")
    assert wait == spacing
    clock.forward(wait)
    assert budget.try_acquire(token="routine-3") == (0, spacing)
    # ...but the incident caller's, which takes it and waits no more...
    granted_at, wait = budget.try_acquire(token="incident-1", priority="incident")
    assert granted_at and not wait
    # ...so the slot after it is a routine caller's again.
    clock.forward(budget.try_acquire(token="routine-3")[1])
    granted_at, wait = budget.try_acquire(token="routine-3")
    assert granted_at and not wait


# An incident caller in a process of its own, on the test's clock as it was when the process started
# (the clock stands still for it): it waits for the budget until it is killed.
_INCIDENT_WAITER = """
import sys
from prefetch_ui.esa_budget import EsaCallBudget
redis_url, key, margin_ms, now = sys.argv[1:]
EsaCallBudget(
    redis_url=redis_url, calls_per_second=1, margin_ms=int(margin_ms), key=key, clock=lambda: float(now)
).acquire(priority="incident")
"""


def test_an_incident_caller_that_dies_waiting_holds_routine_callers_back_a_moment_only(broker: str) -> None:
    clock = ManualClock()
    budget = _budget(broker, calls_per_second=1, margin_ms=MINUTE_MARGIN_MS, clock=clock)
    connection = redis.Redis.from_url(broker)
    budget.acquire()  # the next slot is a minute away on the test's clock, however long the waiter takes
    waiter = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _INCIDENT_WAITER, broker, budget.key, str(MINUTE_MARGIN_MS), repr(clock.now)],
        env=os.environ | {"PYTHONPATH": os.getcwd()},
    )
    try:
        ((token, expires_us),) = eventually(
            lambda: list(connection.zscan_iter(budget.waiters_key)), timeout=60
        )
        # Registered for a moment, renewed while it lives.
        assert expires_us - round(clock.now * 1_000_000) <= esa_budget._WAITER_TTL_MS * 1000
    finally:
        waiter.kill()
        waiter.wait(timeout=30)

    # The slot comes (or acquire would give up after minutes, raising): the dead waiter's
    # registration lapsed, and the routine caller was not kept out for good.
    clock.forward(budget.spacing_us / 1_000_000)
    assert budget.acquire()
    assert not connection.zrange(budget.waiters_key, 0, -1)
    assert connection.zscore(budget.sent_key, token) is None  # the dead waiter never got a slot
    connection.close()


def test_an_unknown_priority_is_refused_and_takes_nothing(broker: str) -> None:
    budget = _budget(broker, calls_per_second=10)
    with pytest.raises(ValueError, match="priority must be one of incident, routine"):
        budget.acquire(priority="urgent")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="priority must be one of"):
        esa_client_from_settings(priority="urgent")  # type: ignore[arg-type]
    connection = redis.Redis.from_url(broker)
    assert not connection.exists(budget.sent_key, budget.due_key, budget.waiters_key)
    connection.close()


def test_calls_arriving_bunched_within_the_margin_never_exceed_esas_limit(
    broker: str, tmp_path: Path
) -> None:
    """The margin's arithmetic, on grants from the real budget and ESA's counting in the simulator:
    while the spread of arrival delays stays within the margin, ESA never counts more than the
    budget in a second, whichever calls are late. (A burst sent for real would test the machine's
    scheduling as much as the budget, and the machine running the tests is a busy one.)"""
    per_second, margin_ms, threads, calls_each = 20, 100, 4, 15
    budget = _budget(broker, calls_per_second=per_second, margin_ms=margin_ms)
    grants: list[int] = []

    def caller() -> None:
        for _ in range(calls_each):
            grants.append(round(budget.acquire() * 1_000_000))

    callers = [threading.Thread(target=caller) for _ in range(threads)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(timeout=60)
    grants.sort()
    assert len(grants) == threads * calls_each
    assert _most_in_any_window(grants, budget.window_ms * 1000) <= per_second

    spread_us = margin_ms * 1000
    # A stall: every call before some point arrives `spread` late, every later one at once.
    stalls = [
        [at + spread_us * (index < split) for index, at in enumerate(grants)] for split in range(len(grants))
    ]
    rng = random.Random(18)
    jitters = [[at + rng.randint(0, spread_us) for at in grants] for _ in range(200)]
    assert max(_most_in_any_window(arrivals, 1_000_000) for arrivals in stalls + jitters) <= per_second

    # The worst stall, replayed to the simulator at those arrival times: it throttles nothing.
    worst = max(stalls, key=lambda arrivals: _most_in_any_window(arrivals, 1_000_000))
    clock = ManualClock()
    config = SimConfig(state_path=tmp_path / "sim.sqlite3", max_qps=per_second)
    with running_simulator(config, real_time=clock) as sim, sim.client() as esa:
        for arrival in sorted(worst):
            clock.now = arrival / 1_000_000
            esa.list_sites()
        assert {call["code"] for call in sim.calls("ListSites")} == {""}
