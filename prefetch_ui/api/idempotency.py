"""`Idempotency-Key` for the API's writes: a retried request returns the first answer instead of
acting twice.

Apply it to any write endpoint of any router, under the route decorator, with the header declared
for the schema:

    @router.post("/things", response=..., openapi_extra=IDEMPOTENCY_OPENAPI)
    @idempotent
    def thing_create(request, payload: ThingIn) -> tuple[int, dict[str, object]]:
        ...

The endpoint returns `(status, body)` (a JSON-able dict) or raises `ApiError`; both are kept as the
answer to the key. The rules, per token (keys of different tokens never meet):

- no header: the request is handled as it comes (the header is optional);
- a new key: the request is handled and its answer (status and body, refusals included) kept 24 h;
- the same key and the same request (method, path, query and a SHA-256 of the body): the first
  answer again, with `Idempotent-Replayed: true`, and nothing done;
- the same key with another request: 422 `idempotency_key_reused`;
- the same key while the first request is still being handled: 409 `idempotency_key_in_use` (retry
  later: it then gets the first answer);
- a key longer than 255 characters or not printable ASCII: 422 `invalid`, field `Idempotency-Key`.

Race-safe: the key's row is inserted before the endpoint acts, under a unique constraint (token,
key), so of two requests at once exactly one acts. A request that fails with an unexpected error
(a 500) leaves no answer: its key may be used again. Authentication, rate limits and input
validation come first and are not kept: a request refused there did nothing.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, Concatenate, cast

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja.responses import NinjaJSONEncoder

from .errors import ApiError
from .models import ApiToken, IdempotencyKey

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEEP_FOR = timedelta(hours=24)
# A first request that has not answered in this long died with its process: its key is free again.
ABANDONED_AFTER = timedelta(minutes=5)
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
_JSON = "application/json; charset=utf-8"

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

Answer = tuple[int, dict[str, object]]


def _json(body: object) -> str:
    return json.dumps(body, cls=NinjaJSONEncoder)


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\n")
    digest.update(hashlib.sha256(request.body).digest())
    return digest.hexdigest()


def _refusal(status: int, code: str, message: str) -> ApiError:
    return ApiError(status=status, code=code, message=message, field=IDEMPOTENCY_HEADER)


def idempotency_claim(*, token: ApiToken, key: str, fingerprint: str) -> IdempotencyKey | HttpResponse:
    """The new row for `key` (this request is the first: handle it), or the first answer to replay;
    ApiError when the key is another request's or still being handled."""
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
        raise _refusal(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used for another request: use a new key for a new request.",
        )
    if first is None or first.status_code is None:
        # Being handled (or it just failed and freed the key): the retry must wait for its answer.
        raise _refusal(
            409,
            "idempotency_key_in_use",
            "A request with this Idempotency-Key is still being handled: retry once it has answered.",
        )
    replay = HttpResponse(first.body, status=first.status_code, content_type=_JSON)
    replay[REPLAYED_HEADER] = "true"
    return replay


def _answer(status: int, body: object) -> HttpResponse:
    return HttpResponse(_json(body), status=status, content_type=_JSON)


def idempotent[**P](
    view: Callable[Concatenate[HttpRequest, P], Answer],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Make a write endpoint honour `Idempotency-Key` (see the module's docstring)."""

    @wraps(view)
    def handle(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return _answer(*view(request, *args, **kwargs))
        if not _KEY.fullmatch(key):
            raise ApiError(
                status=422,
                code="invalid",
                message="An Idempotency-Key is 1 to 255 printable ASCII characters (a UUID, say).",
                field=IDEMPOTENCY_HEADER,
            )
        token = getattr(request, "auth", None)
        if not isinstance(token, ApiToken):
            raise TypeError("idempotent endpoints need a token (TokenAuth)")
        claimed = idempotency_claim(token=token, key=key, fingerprint=_fingerprint(request))
        if isinstance(claimed, HttpResponse):
            return claimed
        try:
            status, body = view(request, *args, **kwargs)
        except ApiError as refusal:
            _keep(claimed, refusal.status, refusal.body())
            raise
        except BaseException:
            IdempotencyKey.objects.filter(pk=claimed.pk).delete()
            raise
        _keep(claimed, status, body)
        return _answer(status, body)

    # Ninja reads the endpoint's parameters from this signature, with its annotations resolved in
    # the endpoint's module (under `from __future__ import annotations` they are strings, which
    # ninja would look up in this module's globals).
    handle.__signature__ = inspect.signature(view, eval_str=True)  # type: ignore[attr-defined]
    return cast("Callable[Concatenate[HttpRequest, P], HttpResponse]", handle)


def _keep(record: IdempotencyKey, status: int, body: object) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).update(status_code=status, body=_json(body))
