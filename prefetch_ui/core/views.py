from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness probe for load balancers and compose; deliberately touches neither the database nor Redis."""
    return JsonResponse({"status": "ok"})


@require_safe
@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html")
