"""Reads of API tokens: a user's list, and what a user may let a token do."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, PermissionsMixin
from django.db.models import QuerySet

from prefetch_ui.web.permissions import can_operate

from .models import ApiToken, Scope

# What lets a user who may not operate hold and resume prefetch through the API: a service
# account with the "incidents" rights (`service_accounts`), or anyone an admin grants it.
HOLD_INCIDENTS_PERMISSION = "api.hold_incidents"


def user_scopes(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The scopes `user` may give a token, and that a token of theirs may use: `read` for every
    active user; `operate` and `incidents` only for those who may act (`prefetch.operate`), as on
    the pages, where holding and resuming prefetch is an operator's too; `incidents` also for
    those granted `api.hold_incidents` (a service account with the incidents rights)."""
    if not user.is_active:
        return set()
    if can_operate(user):
        return {Scope.READ, Scope.OPERATE, Scope.INCIDENTS}
    if isinstance(user, PermissionsMixin) and user.has_perm(HOLD_INCIDENTS_PERMISSION):
        return {Scope.READ, Scope.INCIDENTS}
    return {Scope.READ}


def token_list(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's tokens, newest first, revoked ones too (they say when they were revoked)."""
    return ApiToken.objects.filter(user_id=user.pk)


def token_scopes(*, token: ApiToken) -> set[str]:
    """What the token may do now: its scopes that its owner still holds (a user who lost the
    operate permission loses it on their tokens too)."""
    return set(token.scopes) & user_scopes(token.user)
