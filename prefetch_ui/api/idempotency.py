"""`Idempotency-Key` for every write of the API: a retried request returns the first answer instead
of acting twice.

A hook around every API view (`urls._api_view` calls `idempotency_answer`), so every POST, PUT,
PATCH and DELETE of every router honours it with nothing to do in the endpoint; an endpoint only
declares the header for the schema (`openapi_extra=IDEMPOTENCY_OPENAPI`). The rules, per token
(keys of different tokens never meet):

- no header: the request is handled as it comes (the header is optional);
- a new key: the request is handled and its answer (status, body, content type), refusals
  included, is kept 24 h;
- the same key and the same request (method, path, query and a SHA-256 of the body): the first
  answer again, with `Idempotent-Replayed: true`, and nothing done;
- the same key with another request: 422 `idempotency_key_reused`;
- the same key while the first request is still being handled: 409 `idempotency_key_in_use` (retry
  later: it then gets the first answer);
- a key longer than 255 characters or not printable ASCII: 422 `invalid`, field `Idempotency-Key`.

Race-safe: the key's row is inserted before the view runs, under a unique constraint (token, key),
so of two requests at once exactly one acts. Answers that say nothing of the request itself are not
kept, and free the key for a retry: a 401 or 403 (the token or its rights), a 429 (the rate limit),
a 5xx (an unexpected fault). A request without a usable Bearer token passes through untouched
(the API answers it 401).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from .models import ApiToken, IdempotencyKey
from .services import token_authenticate

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP_FOR = timedelta(hours=24)
# A first request that has not answered in this long died with its process: its key is free again.
ABANDONED_AFTER = timedelta(minutes=5)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answers about the token, its rights, the method or the rate: not the request's answer.
_NOT_KEPT = frozenset({401, 403, 405, 429})
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")

IDEMPOTENCY_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "in": "header",
            "name": IDEMPOTENCY_HEADER,
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "Any unique string (a UUID): a retry with the same key and request gets the "
            "first answer (with `Idempotent-Replayed: true`) and does nothing again. Kept 24 h per token.",
        }
    ]
}


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "field": IDEMPOTENCY_HEADER}, status=status)


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\n")
    digest.update(hashlib.sha256(request.body).digest())
    return digest.hexdigest()


def _bearer_token(request: HttpRequest) -> ApiToken | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return token_authenticate(raw=value.strip()) if scheme.lower() == "bearer" and value.strip() else None


def idempotency_claim(*, token: ApiToken, key: str, fingerprint: str) -> IdempotencyKey | HttpResponse:
    """The new row for `key` (this request is the first: handle it), or the answer to give instead:
    the first answer replayed, or a refusal (the key is another request's, or still being handled)."""
    now = timezone.now()
    IdempotencyKey.objects.filter(created_at__lt=now - KEEP_FOR).delete()
    IdempotencyKey.objects.filter(
        token=token, key=key, status_code__isnull=True, created_at__lt=now - ABANDONED_AFTER
    ).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(token=token, key=key, fingerprint=fingerprint)
    except IntegrityError:
        pass
    first = IdempotencyKey.objects.filter(token=token, key=key).first()
    if first is not None and first.fingerprint != fingerprint:
        return _refusal(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used for another request: use a new key for a new request.",
        )
    if first is None or first.status_code is None:
        # Being handled (or it just failed and freed the key): the retry must wait for its answer.
        return _refusal(
            409,
            "idempotency_key_in_use",
            "A request with this Idempotency-Key is still being handled: retry once it has answered.",
        )
    replay = HttpResponse(first.body, status=first.status_code, content_type=first.content_type)
    replay[REPLAYED_HEADER] = "true"
    return replay


def idempotency_answer(request: HttpRequest, view: Callable[[], HttpResponseBase]) -> HttpResponseBase:
    """`view()`'s answer, under the request's Idempotency-Key if it is a write that carries one."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or request.method not in WRITE_METHODS:
        return view()
    token = _bearer_token(request)
    if token is None:
        return view()  # the API refuses it (401) before anything is done
    if not _KEY.fullmatch(key):
        return JsonResponse(
            {
                "code": "invalid",
                "message": "An Idempotency-Key is 1 to 255 printable ASCII characters (a UUID, say).",
                "field": IDEMPOTENCY_HEADER,
            },
            status=422,
        )
    claimed = idempotency_claim(token=token, key=key, fingerprint=_fingerprint(request))
    if isinstance(claimed, HttpResponse):
        return claimed
    try:
        response = view()
    except BaseException:
        IdempotencyKey.objects.filter(pk=claimed.pk).delete()
        raise
    if (
        response.status_code in _NOT_KEPT
        or response.status_code >= 500
        or not isinstance(response, HttpResponse)
    ):
        IdempotencyKey.objects.filter(pk=claimed.pk).delete()
    else:
        IdempotencyKey.objects.filter(pk=claimed.pk).update(
            status_code=response.status_code,
            body=response.content.decode("utf-8", "replace"),
            content_type=response.get("Content-Type", "application/json"),
        )
    return response
