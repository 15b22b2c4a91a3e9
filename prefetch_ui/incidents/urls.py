from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("incidents/", views.incident_list, name="incident-list"),
    path("incidents/hold/", views.hold_new, name="hold-new"),
    path("incidents/<int:incident_id>/", views.incident_detail, name="incident-detail"),
    path("incidents/<int:incident_id>/retry/", views.incident_retry, name="incident-retry"),
    path("incidents/<int:incident_id>/resume/", views.incident_resume, name="incident-resume"),
]
