"""Who may act: superusers and members of the Operators group. Everyone else reads."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

OPERATORS_GROUP = "Operators"


def can_operate(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if getattr(user, "is_superuser", False):
        return True
    groups = getattr(user, "groups", None)
    return bool(groups is not None and groups.filter(name=OPERATORS_GROUP).exists())
