from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe


@login_not_required
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness probe for load balancers and compose; deliberately touches neither the database nor Redis."""
    return JsonResponse({"status": "ok"})
