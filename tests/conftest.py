from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import SimConfig
from prefetch_ui.esa_sim.testing import RunningSimulator, running_simulator


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningSimulator]:
    """A fresh ESA simulator served over HTTP on a free loopback port."""
    with running_simulator(SimConfig(state_path=tmp_path / "sim.sqlite3")) as running:
        yield running


@pytest.fixture
def esa_client(sim: RunningSimulator) -> Iterator[EsaClient]:
    """Our ESA client, pointed at `sim` with its key pair and short retry waits."""
    with sim.client() as esa:
        yield esa
