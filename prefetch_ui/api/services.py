"""Creating, revoking and using API tokens.

A token is `pfu_<key_id>_<secret>`; the row keeps `key_id` and the SHA-256 of the whole token. The
token itself exists only in `CreatedToken`, handed to the page that shows it once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .models import ApiToken, Scope
from .selectors import user_scopes

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "pfu"  # noqa: S105  # not a secret: what every token begins with
# A token is far shorter; anything longer is refused before it is parsed or hashed.
TOKEN_MAX_LENGTH = 128
EXPIRY_MAX_DAYS = 365
# How stale `last_used_at` may be: one write a minute per token at most, not one per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Hashed when no row has the key id, so an unknown token costs what a wrong secret does.
_UNKNOWN_HASH = hashlib.sha256(b"no such token").hexdigest()


class TokenRefused(ValueError):
    """A token that cannot be created as asked; `field` names the form field at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class TokenAlreadyMade(Exception):
    """The form was sent before and made `token` then; its secret was shown in that answer only."""

    def __init__(self, token: ApiToken) -> None:
        super().__init__(f"token {token.key_id} was made by this form already")
        self.token = token


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A new token's row and the token itself: the only time the token can be read."""

    token: ApiToken
    secret: str = ""

    def __repr__(self) -> str:  # never the secret, even in a traceback's locals
        return f"CreatedToken(token={self.token.pk}, secret=<hidden>)"


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(
    *,
    user: AbstractBaseUser,
    name: str,
    scopes: list[str],
    expires_in_days: int,
    form_token: str = "",
    now: datetime | None = None,
) -> CreatedToken:
    """A new token of `user`, named `name`, with `scopes`, expiring in `expires_in_days` days.
    Refused (`TokenRefused`) for a scope the user does not hold, or an expiry out of range; and
    (`TokenAlreadyMade`) when the form `form_token` made one already: its secret was shown then."""
    now = now or timezone.now()
    if form_token and (made := ApiToken.objects.filter(user_id=user.pk, form_token=form_token).first()):
        raise TokenAlreadyMade(made)
    name = name.strip()
    if not name:
        raise TokenRefused("Give the token a name.", field="name")
    unknown = set(scopes) - set(Scope.values)
    if not scopes or unknown:
        raise TokenRefused("Choose at least one scope among read, operate and incidents.", field="scopes")
    refused = sorted(set(scopes) - user_scopes(user))
    if refused:
        raise TokenRefused(
            f"You cannot give a token a scope you do not hold: {', '.join(refused)}.", field="scopes"
        )
    if not 1 <= expires_in_days <= EXPIRY_MAX_DAYS:
        raise TokenRefused(f"A token expires in 1 to {EXPIRY_MAX_DAYS} days.", field="expires_in_days")
    key_id = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                name=name,
                user_id=user.pk,
                key_id=key_id,
                secret_hash=_token_hash(raw),
                scopes=[scope for scope in Scope.values if scope in scopes],
                expires_at=now + timedelta(days=expires_in_days),
                form_token=form_token,
            )
    except IntegrityError:
        # The same form, sent twice at once: the other submit made it.
        made = ApiToken.objects.filter(user_id=user.pk, form_token=form_token).first() if form_token else None
        if made is None:
            raise
        raise TokenAlreadyMade(made) from None
    logger.info("API token created", extra={"token_key_id": key_id, "token_name": name, "user": user.pk})
    return CreatedToken(token=token, secret=raw)


def token_revoke(*, user: AbstractBaseUser, token_id: int, now: datetime | None = None) -> bool:
    """Revoke the user's token `token_id`; False if they have no such token not yet revoked."""
    revoked = ApiToken.objects.filter(pk=token_id, user_id=user.pk, revoked_at__isnull=True).update(
        revoked_at=now or timezone.now()
    )
    if revoked:
        logger.info("API token revoked", extra={"token_id": token_id, "user": user.pk})
    return bool(revoked)


def token_authenticate(*, raw: str, now: datetime | None = None) -> ApiToken | None:
    """The usable token `raw` is (its owner loaded), noting when it was used; None if it is no
    token, an unknown one, a revoked or expired one, or its owner is inactive."""
    now = now or timezone.now()
    if len(raw) > TOKEN_MAX_LENGTH or not raw.isascii():
        return None
    prefix, _, rest = raw.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not key_id or not secret:
        return None
    token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
    expected = token.secret_hash if token is not None else _UNKNOWN_HASH
    matches = hmac.compare_digest(expected, _token_hash(raw))
    if token is None or not matches or not token.is_usable(now=now) or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    return token
