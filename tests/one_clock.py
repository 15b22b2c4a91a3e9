"""One clock for ESA and the dashboard, moved by the test, where real workers and pages take part.

The simulator runs on the test's `clock` (conftest's `clocked_sim`), and Django's `timezone.now`
follows the same clock in this process, where the live server and the embedded Celery worker run:
so "the plan's first batch went out" or "every window passed during the hold" happens when the
test moves the clock, the same for both, however long the workers took. (The ESA call budget keeps
Redis's clock: it paces real calls.)
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from prefetch_ui.esa_sim.testing import ManualClock

__all__ = ["dashboard_on_the_clock"]


def dashboard_on_the_clock(clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Django's clock is `clock` from now on, at a whole second (ESA's times have no fraction)."""
    clock.now = float(int(clock.now))
    monkeypatch.setattr(timezone, "now", clock.moment)
