from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "prefetch_ui.api"
    label = "api"
    verbose_name = "HTTP API and its tokens"
    default_auto_field = "django.db.models.BigAutoField"
