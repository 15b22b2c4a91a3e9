from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Site-wide plumbing: health, readiness and metrics endpoints, worker heartbeats, request ids in logs."""

    name = "prefetch_ui.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every Celery worker process keeps a heartbeat in Redis while it runs.
        from .logs import connect_log_signals
        from .workers import connect_worker_signals

        connect_worker_signals()
        # Request ids from web requests into the tasks they dispatch; workers log as the web does.
        connect_log_signals()
