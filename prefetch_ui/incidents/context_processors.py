"""The banner on every page while a hold is active (or being lifted)."""

from __future__ import annotations

from django.http import HttpRequest

from .selectors import open_incidents


def incident_banner(request: HttpRequest) -> dict[str, object]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"open_incidents": open_incidents()}
