"""The project's URLs plus a trivial view, the baseline every page is measured against."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

BASELINE_PATH = "/_bench/baseline/"


def baseline(request: HttpRequest) -> HttpResponse:
    """No query and no template of its own, but behind the same middleware and login as the pages.

    Every page pays for the session and the user lookup; dividing by this view leaves what the page
    itself costs, and cancels most of the machine's speed out of the figures.
    """
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path(BASELINE_PATH.strip("/") + "/", baseline, name="bench-baseline"),
    path("", include("prefetch_ui.urls")),
]
