from __future__ import annotations

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "prefetch_ui.notifications"
    label = "notifications"
    verbose_name = "Notifications: events, channels and their deliveries"
    default_auto_field = "django.db.models.BigAutoField"
