"""The permission to operate (`prefetch.operate`, declared on Job) and the group that holds it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from prefetch_ui.web.permissions import OPERATE_PERMISSION, OPERATORS_GROUP

from .models import Job


def operators_group_grant(*, using: str, **kwargs: Any) -> None:
    """Give the Operators group the permission to operate (creating either when missing), so that
    whoever a deployment put in the group before the permission existed keeps acting, as do
    create_dev_logins' and the tests' operators. A post_migrate receiver rather than a data
    migration: it runs after every migrate and also after a flush (transactional tests empty the
    tables a data migration would have filled once)."""
    codename = OPERATE_PERMISSION.removeprefix(f"{Job._meta.app_label}.")
    content_type = ContentType.objects.db_manager(using).get_for_model(Job)
    permission, _ = Permission.objects.using(using).get_or_create(
        content_type=content_type, codename=codename, defaults={"name": dict(Job._meta.permissions)[codename]}
    )
    group, _ = Group.objects.using(using).get_or_create(name=OPERATORS_GROUP)
    group.permissions.add(permission)
