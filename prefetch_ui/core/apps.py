from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Site-wide pages: the home page and the health check."""

    name = "prefetch_ui.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every Celery worker process keeps a heartbeat in Redis while it runs.
        from .workers import connect_worker_signals

        connect_worker_signals()
