from __future__ import annotations

from django.http import HttpResponse

from prefetch_ui.prefetch.views.htmx import HtmxHttpRequest


def timeline(request: HtmxHttpRequest) -> HttpResponse:
    return HttpResponse("todo")
