"""Who may act: whoever holds the `prefetch.operate` permission (declared on prefetch's Job, so the
admin can grant it to a user or a group), which superusers hold implicitly and the `Operators`
group is given (prefetch_ui.prefetch.apps keeps it so after every migrate and flush). Everyone
else reads."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, PermissionsMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

# The permission to start, stop, edit, reset and delete prefetch jobs and plans, and to hold and
# resume prefetch. A name, not an import: prefetch_ui.web imports from no app.
OPERATE_PERMISSION = "prefetch.operate"
# The group existing deployments put operators in; it holds OPERATE_PERMISSION.
OPERATORS_GROUP = "Operators"
_REFUSED = "Only operators may change prefetch jobs and plans."


def can_operate(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether `user` may act (an inactive user may not, even a superuser)."""
    return isinstance(user, PermissionsMixin) and user.is_active and user.has_perm(OPERATE_PERMISSION)


def require_operator(request: HttpRequest) -> None:
    """Refuse (403) whoever may only read."""
    if not can_operate(request.user):
        raise PermissionDenied(_REFUSED)


def operator_required[R: HttpRequest, **P](
    view: Callable[Concatenate[R, P], HttpResponse],
) -> Callable[Concatenate[R, P], HttpResponse]:
    """A view only operators may use; anyone else is refused (403) with the reason."""

    @wraps(view)
    def checked(request: R, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        require_operator(request)
        return view(request, *args, **kwargs)

    return checked
