"""What each operator chooses for themselves: the zone times are shown and typed in."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from prefetch_ui.planning.local_time import zone_named
from prefetch_ui.web.display_zone import SESSION_KEY
from prefetch_ui.web.htmx import HtmxHttpRequest, redirect_to, safe_next


@require_POST
def display_zone_set(request: HtmxHttpRequest) -> HttpResponse:
    """Remember the zone this operator wants times shown and typed in."""
    name = request.POST.get("zone", "")
    if zone_named(name) is None:
        messages.error(
            request, f"“{name[:64]}” is not a time zone this server knows; times stay as they were."
        )
    else:
        request.session[SESSION_KEY] = name
    return redirect_to(request, safe_next(request, reverse("home")))
