"""Retries, driven by the simulator's own throttle and fault options (no mocks of our code).

Answers that ask for a retry come from the simulator called in-process (`mounted_client`); a refused
connection and a read timeout need a real socket.
"""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path

import pytest

from prefetch_ui.esa import (
    EsaAmbiguousResultError,
    EsaClient,
    EsaServerError,
    EsaThrottledError,
    EsaTransportError,
    RetryPolicy,
)
from prefetch_ui.esa_sim import DEMO_SITE_ID, EsaSimulator, SimConfig
from prefetch_ui.esa_sim.testing import ManualClock, running_simulator
from tests.mounted_esa import mounted_client, mounted_simulator
from tests.polling import eventually


class SleepRecorder:
    """Records each wait, and really waits (the simulator's flow control runs on real time)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def _throttling_simulator(tmp_path: Path, clock: ManualClock) -> closing[EsaSimulator]:
    """A simulator that serves one call a second, counted on `clock`: the second call of a test is
    throttled however long this thread took to send it, and a wait passes when the client's sleep
    moves the clock."""
    return closing(EsaSimulator(SimConfig(state_path=tmp_path / "s.sqlite3", max_qps=1), real_time=clock))


class ClockSleep(SleepRecorder):
    """Records each wait, and moves the simulator's clock by it instead of waiting."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.forward(seconds)


def test_throttling_is_retried_after_the_time_esa_asks_for(tmp_path: Path) -> None:
    clock = ManualClock()
    with _throttling_simulator(tmp_path, clock) as simulator:
        sleep = ClockSleep(clock)
        retry = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=2.0, total_timeout=10.0)
        with mounted_client(simulator, retry=retry, sleep=sleep) as client:
            client.list_sites()
            client.list_sites()  # throttled once, then served
        statuses = [call["code"] or "ok" for call in simulator.calls("ListSites")]
    assert statuses[0] == "ok" and statuses[-1] == "ok"
    assert "TooManyRequests" in statuses
    # The wait honoured x-acs-retry-after (up to a second), not the 10 ms base backoff.
    assert max(sleep.waits) > 0.2


def test_throttled_create_is_resent_and_lands_once(tmp_path: Path) -> None:
    clock = ManualClock()
    with _throttling_simulator(tmp_path, clock) as simulator:
        retry = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=2.0, total_timeout=10.0)
        with mounted_client(simulator, retry=retry, sleep=ClockSleep(clock)) as client:
            client.list_sites()
            job = client.create_scheduled_preload_job(
                site_id=DEMO_SITE_ID, name="once", urls=["https://example.com/"]
            )
            jobs = client.list_scheduled_preload_jobs(site_id=DEMO_SITE_ID).items
        codes = [call["code"] for call in simulator.calls("CreateScheduledPreloadJob")]
    assert codes[:-1] and set(codes[:-1]) == {"TooManyRequests"} and codes[-1] == ""
    assert [found.id for found in jobs] == [job.id]


def test_faults_are_retried_with_backoff_until_success(tmp_path: Path) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3", fault_rate=0.5, seed=7)
    with mounted_simulator(config) as simulator:
        sleep = SleepRecorder()
        retry = RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.05, total_timeout=10.0)
        with mounted_client(simulator, retry=retry, sleep=sleep) as client:
            for index in range(6):
                client.create_scheduled_preload_job(
                    site_id=DEMO_SITE_ID, name=f"job{index}", urls=["https://example.com/"]
                )
        calls = simulator.calls("CreateScheduledPreloadJob")
    assert {call["code"] for call in calls} == {"", "ServiceUnavailable"}
    # A 503 is refused before processing, so resending a create is safe: six jobs, not more.
    assert sum(call["code"] == "" for call in calls) == 6
    assert len(sleep.waits) == sum(call["code"] == "ServiceUnavailable" for call in calls)
    assert all(0 < wait <= 0.05 for wait in sleep.waits)


def test_retries_are_bounded_in_count(tmp_path: Path) -> None:
    with mounted_simulator(SimConfig(state_path=tmp_path / "s.sqlite3", fault_rate=1.0)) as simulator:
        retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, total_timeout=10.0)
        with mounted_client(simulator, retry=retry) as client, pytest.raises(EsaServerError) as caught:
            client.list_sites()
        assert caught.value.code == "ServiceUnavailable"
        assert len(simulator.calls("ListSites")) == 3


def test_retries_are_bounded_in_total_time(tmp_path: Path) -> None:
    with mounted_simulator(SimConfig(state_path=tmp_path / "s.sqlite3", fault_rate=1.0)) as simulator:
        # The budget is counted on a clock that only the waits move: however slow each call is on a
        # busy machine, the retries stop when the waits would pass 0.35 s, never sooner or later.
        clock = ManualClock()
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            clock.forward(seconds)

        retry = RetryPolicy(max_attempts=100, base_delay=0.1, max_delay=0.1, total_timeout=0.35)
        with (
            mounted_client(simulator, retry=retry, sleep=sleep, clock=clock) as client,
            pytest.raises(EsaServerError),
        ):
            client.list_sites()
    assert sum(waits) <= 0.35
    assert 2 <= len(waits) < 10


def test_an_ambiguous_create_is_never_resent(tmp_path: Path) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3", ambiguous_fault_rate=1.0)
    with mounted_simulator(config) as simulator:
        with mounted_client(simulator) as client, pytest.raises(EsaAmbiguousResultError) as caught:
            client.create_scheduled_preload_job(
                site_id=DEMO_SITE_ID, name="maybe", urls=["https://example.com/"]
            )
        assert isinstance(caught.value.__cause__, EsaServerError)
        assert "list before trying again" in str(caught.value)
        assert len(simulator.calls("CreateScheduledPreloadJob")) == 1
    # The 500 hid a success: the job exists, exactly once.
    with (
        mounted_simulator(SimConfig(state_path=tmp_path / "s.sqlite3")) as simulator,
        mounted_client(simulator) as client,
    ):
        assert [job.name for job in client.list_scheduled_preload_jobs(site_id=DEMO_SITE_ID).items] == [
            "maybe"
        ]


def test_an_ambiguous_read_or_stop_is_retried(tmp_path: Path) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3", ambiguous_fault_rate=1.0)
    with mounted_simulator(config) as simulator:
        with mounted_client(simulator) as client, pytest.raises(EsaServerError):
            client.list_sites()
        assert len(simulator.calls("ListSites")) == 4


def test_connection_refused_is_retried_even_for_a_create(closed_port: int) -> None:
    sleep = SleepRecorder()
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, total_timeout=5.0)
    with (
        EsaClient(
            endpoint=f"http://127.0.0.1:{closed_port}",
            access_key_id="id",
            access_key_secret="s",
            retry=retry,
            sleep=sleep,
        ) as client,
        pytest.raises(EsaTransportError) as caught,
    ):
        client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="x", urls=["https://example.com/"])
    assert not isinstance(caught.value, EsaAmbiguousResultError)
    assert len(sleep.waits) == 2


def test_a_read_timeout_makes_a_create_ambiguous(tmp_path: Path) -> None:
    config = SimConfig(state_path=tmp_path / "s.sqlite3", latency_ms=300)
    with running_simulator(config) as sim:
        with sim.client(timeout=0.1) as client, pytest.raises(EsaAmbiguousResultError):
            client.create_scheduled_preload_job(
                site_id=DEMO_SITE_ID, name="slow", urls=["https://example.com/"]
            )
        # The simulator records the call once it has answered, after its latency: wait for that.
        eventually(lambda: sim.calls("CreateScheduledPreloadJob"), timeout=60)
        assert len(sim.calls("CreateScheduledPreloadJob")) == 1


def test_throttled_error_carries_retry_after(tmp_path: Path) -> None:
    with mounted_simulator(SimConfig(state_path=tmp_path / "s.sqlite3", max_qps=1)) as simulator:
        retry = RetryPolicy(max_attempts=1)
        with mounted_client(simulator, retry=retry) as client:
            client.list_sites()
            with pytest.raises(EsaThrottledError) as caught:
                client.list_sites()
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 1.0
