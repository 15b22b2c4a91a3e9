"""The one bridge from Django settings to the ESA client, so that `prefetch_ui.esa` never imports Django."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from prefetch_ui.esa import EsaClient


def esa_client_from_settings() -> EsaClient:
    """Build an `EsaClient` from the ESA_* settings, drawing on the shared call budget. The caller
    closes it (it holds an HTTP pool)."""
    # Imported here so that loading Django settings or URLs never pulls in the client and httpx.
    from prefetch_ui.esa import EsaClient

    from .esa_budget import esa_call_budget

    budget = None
    if settings.PREFETCH_ESA_CALLS_PER_SECOND > 0:
        budget = esa_call_budget(
            settings.REDIS_URL, settings.PREFETCH_ESA_CALLS_PER_SECOND, settings.PREFETCH_ESA_BUDGET_MARGIN_MS
        )
    return EsaClient(
        endpoint=settings.ESA_ENDPOINT,
        access_key_id=settings.ESA_ACCESS_KEY_ID,
        access_key_secret=settings.ESA_ACCESS_KEY_SECRET,
        timeout=settings.ESA_TIMEOUT,
        rate_gate=None if budget is None else budget.acquire,
    )
