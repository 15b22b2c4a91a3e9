"""The client tells an observer of every request it sends (metrics), and never fails for it."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from prefetch_ui.esa import CallObserver, EsaApiError, EsaClient, EsaTransportError, RetryPolicy
from prefetch_ui.esa_sim import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, EsaSimulator, SimConfig
from prefetch_ui.esa_sim.testing import FAST_RETRY
from tests.mounted_esa import MOUNTED_ENDPOINT, mounted_simulator


class Observed:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def __call__(self, action: str, code: str, seconds: float) -> None:
        self.calls.append((action, code, seconds))

    @property
    def codes(self) -> list[tuple[str, str]]:
        return [(action, code) for action, code, _ in self.calls]


def observed_client(
    simulator: EsaSimulator, on_call: CallObserver, retry: RetryPolicy = FAST_RETRY
) -> EsaClient:
    return EsaClient(
        endpoint=MOUNTED_ENDPOINT,
        access_key_id=DEMO_ACCESS_KEY_ID,
        access_key_secret=DEMO_ACCESS_KEY_SECRET,
        retry=retry,
        transport=httpx.WSGITransport(app=simulator),
        on_call=on_call,
    )


def test_every_attempt_is_observed_with_its_answer_code(tmp_path: Path) -> None:
    observed = Observed()
    retry = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=2.0, total_timeout=10.0)
    with mounted_simulator(SimConfig(state_path=tmp_path / "s.sqlite3", max_qps=1)) as simulator:
        with observed_client(simulator, observed, retry) as client:
            client.list_sites()
            client.list_sites()  # throttled at least once, then served
            with pytest.raises(EsaApiError) as refused:
                client.get_scheduled_preload_job("nope")
        sent = [(call["action"], call["code"] or "OK") for call in simulator.calls()]

    # One observation per request the simulator saw, with the code it answered.
    assert observed.codes == sent
    assert ("ListSites", "TooManyRequests") in observed.codes
    assert observed.codes[-1] == ("GetScheduledPreloadJob", refused.value.code)
    assert all(seconds >= 0 for _, _, seconds in observed.calls)


def test_a_request_that_never_left_is_observed_as_connection_failed(closed_port: int) -> None:
    observed = Observed()
    with (
        EsaClient(
            endpoint=f"http://127.0.0.1:{closed_port}",
            access_key_id="id",
            access_key_secret="secret",
            retry=FAST_RETRY,
            on_call=observed,
        ) as client,
        pytest.raises(EsaTransportError),
    ):
        client.list_sites()
    assert observed.codes == [("ListSites", "ConnectionFailed")] * FAST_RETRY.max_attempts


def test_a_failing_observer_never_fails_the_call(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken(action: str, code: str, seconds: float) -> None:
        raise RuntimeError("metrics store gone")

    with (
        mounted_simulator(SimConfig(state_path=tmp_path / "s.sqlite3")) as simulator,
        observed_client(simulator, broken) as client,
        caplog.at_level(logging.ERROR),
    ):
        assert client.list_sites().items
        assert client.list_sites().items

    # Said once, not at every call.
    assert [record.message for record in caplog.records].count(
        "the ESA call observer failed; its later failures are not logged"
    ) == 1
