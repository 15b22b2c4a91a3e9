from __future__ import annotations

from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "prefetch_ui.reviews"
    label = "reviews"
    verbose_name = "Reviews: overview, timeline, audit log"
    default_auto_field = "django.db.models.BigAutoField"
