from __future__ import annotations

from django.urls import path

from .views import audit, exports, overview, timeline

urlpatterns = [
    path("overview/", overview.overview, name="overview"),
    path("timeline/", timeline.timeline, name="timeline"),
    path("audit/", audit.audit_log, name="audit"),
    path("audit.csv", audit.audit_csv, name="audit-csv"),
    path("exports/jobs.csv", exports.jobs_csv, name="jobs-csv"),
    path("exports/plans.csv", exports.plans_csv, name="plans-csv"),
]
