"""The one bridge from Django settings to the ESA client, so that `prefetch_ui.esa` never imports Django."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from prefetch_ui.esa import EsaClient

    from .esa_budget import Priority


def esa_client_from_settings(*, priority: Priority = "routine") -> EsaClient:
    """Build an `EsaClient` from the ESA_* settings, drawing on the shared call budget and recording
    every call and budget wait in the shared metrics. The caller closes it (it holds an HTTP pool).

    `priority="incident"` is for the calls of a hold or a resume: while one of them waits for the
    budget, routine calls (the sync, operations) wait behind it (see `prefetch_ui.esa_budget`).
    """
    # Imported here so that loading Django settings or URLs never pulls in the client and httpx.
    from prefetch_ui.esa import EsaClient

    from .core.metrics import metrics_recorder
    from .esa_budget import PRIORITIES, esa_call_budget

    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
    recorder = metrics_recorder()
    rate_gate: Callable[[], None] | None = None
    if settings.PREFETCH_ESA_CALLS_PER_SECOND > 0:
        budget = esa_call_budget(
            settings.REDIS_URL, settings.PREFETCH_ESA_CALLS_PER_SECOND, settings.PREFETCH_ESA_BUDGET_MARGIN_MS
        )

        def budget_acquired() -> None:
            started = time.monotonic()
            budget.acquire(priority=priority)
            recorder.budget_wait(time.monotonic() - started)

        rate_gate = budget_acquired

    return EsaClient(
        endpoint=settings.ESA_ENDPOINT,
        access_key_id=settings.ESA_ACCESS_KEY_ID,
        access_key_secret=settings.ESA_ACCESS_KEY_SECRET,
        timeout=settings.ESA_TIMEOUT,
        rate_gate=rate_gate,
        on_call=lambda action, code, seconds: recorder.esa_call(action, code, seconds, caller=priority),
    )
