from __future__ import annotations

from django.apps import AppConfig


class LimitsConfig(AppConfig):
    name = "prefetch_ui.limits"
    label = "limits"
    verbose_name = "Limits: quotas, site status and pause"
    default_auto_field = "django.db.models.BigAutoField"
