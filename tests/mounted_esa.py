"""Our ESA client handing its requests to a simulator in this thread, through httpx's WSGI transport.

For tests of requests and answers (signing, error codes, HTTP-level retries): no server thread and
no socket. Where the socket is the point (timeouts, a refused connection, the official SDK), tests
serve the simulator over real HTTP with `running_simulator` instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing

import httpx

from prefetch_ui.esa import EsaClient, RetryPolicy
from prefetch_ui.esa_sim import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, EsaSimulator, SimConfig
from prefetch_ui.esa_sim.testing import FAST_RETRY

# Never resolved: the transport hands every request to the simulator. Signed like any other host.
MOUNTED_ENDPOINT = "http://esa.test"


def mounted_simulator(config: SimConfig) -> closing[EsaSimulator]:
    """A simulator to mount, closed (its state file let go) when the `with` block ends."""
    return closing(EsaSimulator(config))


def mounted_client(
    simulator: EsaSimulator,
    *,
    retry: RetryPolicy = FAST_RETRY,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    access_key_id: str = DEMO_ACCESS_KEY_ID,
    access_key_secret: str = DEMO_ACCESS_KEY_SECRET,
) -> EsaClient:
    """An `EsaClient` for `simulator` in this thread (by default with its key pair and short retry waits)."""
    return EsaClient(
        endpoint=MOUNTED_ENDPOINT,
        access_key_id=access_key_id,
        access_key_secret=access_key_secret,
        retry=retry,
        sleep=sleep,
        clock=clock,
        transport=httpx.WSGITransport(app=simulator),
    )
