from __future__ import annotations

from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "prefetch_ui.incidents"
    label = "incidents"
    verbose_name = "Incidents: holds and resumes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: they import the models, which load only once the registry is ready.
        from prefetch_ui.core.metrics_collector import database_metrics_register
        from prefetch_ui.prefetch.holds import holds_register

        from .holds import IncidentHolds
        from .metrics import incidents_database_metrics

        # What prefetch's pages, sync and selectors ask about holds: prefetch never imports incidents.
        holds_register(IncidentHolds())
        database_metrics_register(incidents_database_metrics)
