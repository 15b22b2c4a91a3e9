from __future__ import annotations

from django.urls import path

from . import builder_views, new_job_views, views

urlpatterns = [
    path("", views.site_list, name="home"),
    path("display-zone/", views.display_zone_set, name="display-zone"),
    path("sites/<int:site_esa_id>/", views.site_detail, name="site-detail"),
    path("sites/<int:site_esa_id>/stop-all/", views.site_stop_all, name="site-stop-all"),
    path("sites/<int:site_esa_id>/jobs/new/", new_job_views.job_new, name="job-new"),
    path("jobs/<str:job_esa_id>/", views.job_detail, name="job-detail"),
    path("jobs/<str:job_esa_id>/plans/new/", builder_views.plan_builder, name="plan-builder"),
    path(
        "jobs/<str:job_esa_id>/plans/new/preview/",
        builder_views.plan_builder_preview,
        name="plan-builder-preview",
    ),
    path("jobs/<str:job_esa_id>/<str:action>/", views.job_action, name="job-action"),
    path("plans/<str:plan_esa_id>/edit/", views.plan_edit, name="plan-edit"),
    path("plans/<str:plan_esa_id>/<str:action>/", views.plan_action, name="plan-action"),
    path("operations/<int:operation_id>/retry/", views.operation_retry, name="operation-retry"),
]
