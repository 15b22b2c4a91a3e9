"""Service accounts: users for machines (Alertmanager, a deploy script), made and disabled by an
admin, acting only through the tokens the admin makes for them.

A service account is a user with no usable password (it cannot log in to the pages) and the rights
chosen for it: `viewer` (read), `operator` (in the Operators group: read, operate, incidents) or
`incidents` (the `api.hold_incidents` permission: read, and hold and resume prefetch through the
API). Its tokens are made like anyone's (`services.token_create`), so never beyond those rights.
Disabling it makes its user inactive: its tokens are refused at once (401), and enabling it lets
them in again. Every call is audited as "token NAME of ACCOUNT".
"""

from __future__ import annotations

import logging
import re

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission, User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from prefetch_ui.web.permissions import OPERATORS_GROUP

from .models import ApiToken, Scope, ServiceAccount, ServiceRights
from .selectors import HOLD_INCIDENTS_PERMISSION, user_scopes
from .services import CreatedToken, token_create, token_revoke

logger = logging.getLogger(__name__)

# What each of the rights lets the account's tokens do (`selectors.user_scopes` once it is made).
_RIGHTS_SCOPES = {
    ServiceRights.VIEWER: {Scope.READ},
    ServiceRights.OPERATOR: {Scope.READ, Scope.OPERATE, Scope.INCIDENTS},
    ServiceRights.INCIDENTS: {Scope.READ, Scope.INCIDENTS},
}
# A name as a user name: what the audit log shows ("token alertmanager of grafana-bot").
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class ServiceAccountRefused(ValueError):
    """A service account that cannot be made as asked; `field` names the form field at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def can_manage_service_accounts(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins only: an active staff member or superuser."""
    return bool(user.is_active and (getattr(user, "is_staff", False) or getattr(user, "is_superuser", False)))


def service_account_list() -> QuerySet[ServiceAccount]:
    """Every service account, by name, with its usable tokens counted."""
    now = timezone.now()
    usable = Q(user__api_tokens__revoked_at__isnull=True, user__api_tokens__expires_at__gt=now)
    return ServiceAccount.objects.select_related("user", "created_by").annotate(
        usable_tokens=Count("user__api_tokens", filter=usable)
    )


@transaction.atomic
def service_account_create(*, admin: AbstractBaseUser, name: str, rights: str) -> ServiceAccount:
    """A new service account `name` with `rights` (ServiceRights); ServiceAccountRefused when the
    name is not one or is taken (by a person or another account)."""
    name = name.strip()
    if not NAME.fullmatch(name):
        raise ServiceAccountRefused(
            "A name is 1 to 64 lower-case letters, digits, dots, dashes or underscores, starting with a "
            "letter or digit (it is what the audit log shows).",
            field="name",
        )
    if rights not in ServiceRights.values:
        raise ServiceAccountRefused("Choose viewer, operator or incidents.", field="rights")
    if not _RIGHTS_SCOPES[ServiceRights(rights)] <= user_scopes(admin):
        # An admin who may not operate makes no account that may: that would be a way round it.
        raise ServiceAccountRefused(
            "You cannot give a service account rights you do not hold.", field="rights"
        )
    if User.objects.filter(username__iexact=name).exists():
        raise ServiceAccountRefused(f"“{name}” is taken: choose another name.", field="name")
    user = User(username=name)
    user.set_unusable_password()  # no password opens it: only its tokens
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ServiceAccountRefused(f"“{name}” is taken: choose another name.", field="name") from None
    if rights == ServiceRights.OPERATOR:
        user.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    elif rights == ServiceRights.INCIDENTS:
        app_label, codename = HOLD_INCIDENTS_PERMISSION.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    account = ServiceAccount.objects.create(user=user, rights=rights, created_by_id=admin.pk)
    logger.info(
        "service account created", extra={"service_account": name, "rights": rights, "user": admin.pk}
    )
    return account


def service_account_disable(*, account: ServiceAccount) -> bool:
    """Disable the account: its tokens are refused from now on. False if it was disabled already."""
    with transaction.atomic():
        changed = ServiceAccount.objects.filter(pk=account.pk, disabled_at__isnull=True).update(
            disabled_at=timezone.now()
        )
        User.objects.filter(pk=account.user_id).update(is_active=False)
    if changed:
        logger.info("service account disabled", extra={"service_account": account.user_id})
    return bool(changed)


def service_account_enable(*, account: ServiceAccount) -> bool:
    """Enable a disabled account again: its tokens that are neither revoked nor expired work again."""
    with transaction.atomic():
        changed = ServiceAccount.objects.filter(pk=account.pk, disabled_at__isnull=False).update(
            disabled_at=None
        )
        User.objects.filter(pk=account.user_id).update(is_active=True)
    return bool(changed)


def service_account_token_create(
    *, account: ServiceAccount, name: str, scopes: list[str], expires_in_days: int, form_token: str = ""
) -> CreatedToken:
    """A token of the account, within its rights (TokenRefused, TokenAlreadyMade as for anyone's)."""
    return token_create(
        user=account.user, name=name, scopes=scopes, expires_in_days=expires_in_days, form_token=form_token
    )


def service_account_token_revoke(*, account: ServiceAccount, token_id: int) -> bool:
    return token_revoke(user=account.user, token_id=token_id)


def service_account_tokens(*, account: ServiceAccount) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user_id=account.user_id)
