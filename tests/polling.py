"""Waiting for work done elsewhere (a Celery worker, the simulator's clock, a child process)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def eventually[T](
    check: Callable[[], T | None],
    *,
    timeout: float = 20,
    interval: float = 0.1,
    failure: str | Callable[[], str] = "the condition never became true",
) -> T:
    """The first truthy answer of `check`, asked every `interval` seconds; the test fails after `timeout`.

    `failure` is the message, or makes it when the time is up (say, from the latest output).
    """
    deadline = time.monotonic() + timeout
    while True:
        if answer := check():
            return answer
        if time.monotonic() > deadline:
            pytest.fail(failure if isinstance(failure, str) else failure())
        time.sleep(interval)
