from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PrefetchConfig(AppConfig):
    name = "prefetch_ui.prefetch"
    label = "prefetch"
    verbose_name = "Scheduled prefetch"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: they import the models, which load only once the registry is ready.
        from prefetch_ui.core.metrics_collector import database_metrics_register

        from .metrics import prefetch_database_metrics
        from .permissions import operators_group_grant

        post_migrate.connect(operators_group_grant, sender=self, dispatch_uid="prefetch-operators-group")
        database_metrics_register(prefetch_database_metrics)
