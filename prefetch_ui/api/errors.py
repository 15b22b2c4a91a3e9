"""The API's refusals, all JSON of one shape (`ApiErrorOut`): a stable `code` a client can branch
on, a `message` for people, and the `field` at fault where there is one.

| status | code | when |
| --- | --- | --- |
| 401 | `token_missing` | no `Authorization: Bearer` header |
| 401 | `token_invalid` | an unknown, expired or revoked token, or one of an inactive user |
| 403 | `scope_missing` | the token lacks the operation's scope (or its owner no longer holds it) |
| 404 | `not_found` | no such site, job or page; `field` names the parameter |
| 422 | `invalid` | a parameter of the wrong type or out of range; `field` names it |

The write endpoints add their own (`v1_operations`, `idempotency`, `rate_limits`); a refusal that
stems from ESA also carries ESA's code and RequestId (`esa_code`, `esa_request_id`), and a 429
a `Retry-After` header.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError


class ApiErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


class EsaErrorOut(ApiErrorOut):
    """A refusal that stems from ESA: its code and RequestId, as the pages show them."""

    esa_code: str | None = None
    esa_request_id: str | None = None


class ApiError(Exception):
    """A refusal an endpoint raises: answered as `ApiErrorOut` with `status`; `extra` adds fields
    to the answer (ESA's code and RequestId), `headers` headers (a 429's Retry-After)."""

    def __init__(
        self,
        *,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        extra: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        """The answer's JSON, as `ApiErrorOut` (or `EsaErrorOut`) has it."""
        return {"code": self.code, "message": self.message, "field": self.field, **self.extra}


class TokenRefusal(AuthenticationError):
    """401 for a token that is missing or does not open the API."""

    def __init__(self, *, code: str, message: str) -> None:
        super().__init__(status_code=401, message=message)
        self.code = code


class ScopeMissing(ApiError):
    """403: the token lacks `scope`, or (`owner` named) has it but its owner may no longer use it."""

    def __init__(self, scope: str, *, owner: str = "") -> None:
        message = f"This token does not have the {scope} scope."
        if owner:
            message = (
                f"This token has the {scope} scope, but its owner {owner} no longer has the rights "
                f"for it: a token never does more than its owner may."
            )
        super().__init__(status=403, code="scope_missing", message=message)


def not_found(*, field: str, what: str) -> ApiError:
    return ApiError(status=404, code="not_found", message=f"No {what} with this id.", field=field)


def _answer(
    api: NinjaAPI, request: HttpRequest, status: int, body: ApiErrorOut | dict[str, object]
) -> HttpResponse:
    content = body if isinstance(body, dict) else body.model_dump()
    response = api.create_response(request, content, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="prefetch_ui"'
    return response


def install_error_handlers(api: NinjaAPI) -> None:
    """Answer every refusal of `api` in the one shape, ninja's own included (401, 404, 422)."""

    @api.exception_handler(ApiError)
    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        response = _answer(api, request, exc.status, exc.body())
        for header, value in exc.headers.items():
            response[header] = value
        return response

    @api.exception_handler(AuthenticationError)
    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        if isinstance(exc, TokenRefusal):
            return _answer(api, request, 401, ApiErrorOut(code=exc.code, message=exc.message))
        # No header, or not a Bearer one: ninja asked no authenticator to look.
        message = "Send the token as `Authorization: Bearer <token>`."
        return _answer(api, request, 401, ApiErrorOut(code="token_missing", message=message))

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        first = exc.errors[0] if exc.errors else {}
        location = [str(part) for part in first.get("loc", ())]
        # ("query", "page") names the parameter; a body's field is its path after "body" and the
        # body parameter's name, dotted: ("body", "payload", "plans", 0, "interval") → plans.0.interval.
        if location[:1] == ["body"] and len(location) > 2:
            field: str | None = ".".join(location[2:])
        else:
            field = location[-1] if location else None
        reason = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        message = f"{field}: {reason}" if field else reason
        return _answer(api, request, 422, ApiErrorOut(code="invalid", message=message, field=field))

    @api.exception_handler(Http404)
    def http_404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return _answer(api, request, 404, ApiErrorOut(code="not_found", message="Not found."))

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = {400: "bad_request", 403: "forbidden", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return _answer(api, request, exc.status_code, ApiErrorOut(code=code, message=str(exc)))
