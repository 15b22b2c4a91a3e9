from __future__ import annotations

from django.apps import AppConfig


class PrefetchConfig(AppConfig):
    name = "prefetch_ui.prefetch"
    label = "prefetch"
    verbose_name = "Scheduled prefetch"
    default_auto_field = "django.db.models.BigAutoField"
