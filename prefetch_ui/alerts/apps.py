from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "prefetch_ui.alerts"
    label = "alerts"
    verbose_name = "Alert receivers"
