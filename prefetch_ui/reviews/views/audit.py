from __future__ import annotations

from django.http import HttpResponse

from prefetch_ui.prefetch.views.htmx import HtmxHttpRequest


def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    return HttpResponse("todo")


def audit_csv(request: HtmxHttpRequest) -> HttpResponse:
    return HttpResponse("todo")
