from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PrefetchConfig(AppConfig):
    name = "prefetch_ui.prefetch"
    label = "prefetch"
    verbose_name = "Scheduled prefetch"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .permissions import operators_group_grant  # models load only once the registry is ready

        post_migrate.connect(operators_group_grant, sender=self, dispatch_uid="prefetch-operators-group")
