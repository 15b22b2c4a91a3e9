"""Who may act: superusers and members of the Operators group. Everyone else reads."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

OPERATORS_GROUP = "Operators"


def can_operate(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if getattr(user, "is_superuser", False):
        return True
    groups = getattr(user, "groups", None)
    return bool(groups is not None and groups.filter(name=OPERATORS_GROUP).exists())


def require_operator(request: HttpRequest) -> None:
    """Refuse (403) whoever may only read."""
    if not can_operate(request.user):
        raise PermissionDenied("Only operators may change prefetch jobs and plans.")
