"""The one bridge from Django settings to the ESA client, so that `prefetch_ui.esa` never imports Django."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from prefetch_ui.esa import EsaClient


def esa_client_from_settings() -> EsaClient:
    """Build an `EsaClient` from the ESA_* settings, drawing on the shared call budget and recording
    every call and budget wait in the shared metrics. The caller closes it (it holds an HTTP pool)."""
    # Imported here so that loading Django settings or URLs never pulls in the client and httpx.
    from prefetch_ui.esa import EsaClient

    from .core.metrics import metrics_recorder
    from .esa_budget import esa_call_budget

    recorder = metrics_recorder()
    rate_gate: Callable[[], None] | None = None
    if settings.PREFETCH_ESA_CALLS_PER_SECOND > 0:
        budget = esa_call_budget(
            settings.REDIS_URL, settings.PREFETCH_ESA_CALLS_PER_SECOND, settings.PREFETCH_ESA_BUDGET_MARGIN_MS
        )

        def budget_acquired() -> None:
            started = time.monotonic()
            budget.acquire()
            recorder.budget_wait(time.monotonic() - started)

        rate_gate = budget_acquired

    return EsaClient(
        endpoint=settings.ESA_ENDPOINT,
        access_key_id=settings.ESA_ACCESS_KEY_ID,
        access_key_secret=settings.ESA_ACCESS_KEY_SECRET,
        timeout=settings.ESA_TIMEOUT,
        rate_gate=rate_gate,
        on_call=recorder.esa_call,
    )
