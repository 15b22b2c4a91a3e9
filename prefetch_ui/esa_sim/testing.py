"""Running a simulator for tests: in a thread over real HTTP, or as its own process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from prefetch_ui.esa import EsaClient, RetryPolicy

from .app import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, EsaSimulator, SimConfig
from .server import serve_in_thread
from .store import SubmittedBatch

__all__ = ["FAST_RETRY", "ManualClock", "RunningSimulator", "running_simulator", "simulator_process"]

# Short waits so retry tests stay quick: the bounds are what tests check, not the durations.
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, total_timeout=5.0)


class ManualClock:
    """Wall-clock time that moves only when the test says so (within the 15-minute signature window).

    Pass it as `running_simulator(..., real_time=clock)` to move the simulated timeline by hand.
    """

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def forward(self, seconds: float) -> None:
        self.now += seconds

    def moment(self) -> datetime:
        """The clock's time as an aware UTC datetime (what an `EsaClient` call or the sync takes)."""
        return datetime.fromtimestamp(self.now, UTC)


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    simulator: EsaSimulator
    url: str
    access_key_id: str = DEMO_ACCESS_KEY_ID
    access_key_secret: str = DEMO_ACCESS_KEY_SECRET

    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        return self.simulator.calls(action)

    def submitted_batches(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[SubmittedBatch]:
        return self.simulator.submitted_batches(since=since, until=until)

    def client(
        self,
        *,
        retry: RetryPolicy = FAST_RETRY,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 10.0,
    ) -> EsaClient:
        """An `EsaClient` for this simulator (by default with its key pair and short retry waits)."""
        return EsaClient(
            endpoint=self.url,
            access_key_id=access_key_id or self.access_key_id,
            access_key_secret=access_key_secret or self.access_key_secret,
            retry=retry,
            sleep=sleep,
            timeout=timeout,
        )


@contextmanager
def running_simulator(
    config: SimConfig, *, real_time: Callable[[], float] = time.time, **overrides: Any
) -> Iterator[RunningSimulator]:
    """An `EsaSimulator` served over HTTP on a free loopback port for the `with` block.

    `real_time` replaces the wall clock, so a test can move the simulated timeline by hand.
    """
    simulator = EsaSimulator(replace(config, **overrides) if overrides else config, real_time=real_time)
    server, url = serve_in_thread(simulator)
    try:
        yield RunningSimulator(simulator=simulator, url=url)
    finally:
        server.shutdown()
        server.server_close()
        simulator.close()


@contextmanager
def simulator_process(state: Path, *extra_args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`python -m prefetch_ui.esa_sim` as a child process; yields its base URL."""
    command: Sequence[str] = [
        sys.executable,
        "-m",
        "prefetch_ui.esa_sim",
        "--port",
        "0",
        "--state",
        str(state),
        *extra_args,
    ]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        if process.stdout is None:
            raise RuntimeError("no pipe to the simulator's output")
        line = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            raise RuntimeError(f"the simulator did not start: {line}{process.stdout.read()}")
        url = match.group(1)
        httpx.get(f"{url}/_sim/health", timeout=5).raise_for_status()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
