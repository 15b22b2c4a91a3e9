"""`Authorization: Bearer <token>` for the API, one authenticator per scope.

An unknown, expired or revoked token is refused (401) before anything else; then its call is
counted against the token's rate limit (429, `rate_limits`); then a token without the operation's
scope, or whose owner no longer holds it (an operator removed from the Operators group), is refused
(403). The header is never logged: ninja's own HttpBearer logs a header of
another scheme in DEBUG, which could be a token sent as `Token pfu_...`.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security.http import HttpBearer

from .errors import ScopeMissing, TokenRefusal
from .models import ApiToken
from .rate_limits import rate_limit_check
from .selectors import token_scopes
from .services import token_authenticate


class TokenAuth(HttpBearer):
    """Lets through a usable token that holds `scope`; the request's `auth` is its `ApiToken`."""

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def __call__(self, request: HttpRequest) -> ApiToken | None:
        scheme, _, value = request.headers.get(self.header, "").partition(" ")
        if scheme.lower() != self.openapi_scheme or not value.strip():
            return None  # ninja answers 401: token_missing (errors.install_error_handlers)
        return self.authenticate(request, value.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        api_token = token_authenticate(raw=token)
        if api_token is None:
            raise TokenRefusal(code="token_invalid", message="This token is unknown, expired or revoked.")
        rate_limit_check(token=api_token)
        if self.scope not in token_scopes(token=api_token):
            if self.scope in api_token.scopes:
                raise ScopeMissing(self.scope, owner=api_token.user.get_username())
            raise ScopeMissing(self.scope)
        return api_token
