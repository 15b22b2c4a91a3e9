from __future__ import annotations

from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "prefetch_ui.incidents"
    label = "incidents"
    verbose_name = "Incidents: holds and resumes"
    default_auto_field = "django.db.models.BigAutoField"
