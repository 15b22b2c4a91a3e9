"""The banner on every page while a hold is active (or being lifted)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import open_incidents


def incident_banner(request: HttpRequest) -> dict[str, object]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    # Lazy: only a whole page shows the banner; a polled fragment never reads it, so never queries.
    return {"open_incidents": SimpleLazyObject(open_incidents)}
