from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.site_list, name="home"),
    path("sites/<int:site_esa_id>/", views.site_detail, name="site-detail"),
    path("sites/<int:site_esa_id>/stop-all/", views.site_stop_all, name="site-stop-all"),
    path("jobs/<str:job_esa_id>/", views.job_detail, name="job-detail"),
    path("jobs/<str:job_esa_id>/<str:action>/", views.job_action, name="job-action"),
    path("plans/<str:plan_esa_id>/edit/", views.plan_edit, name="plan-edit"),
    path("plans/<str:plan_esa_id>/<str:action>/", views.plan_action, name="plan-action"),
    path("operations/<int:operation_id>/retry/", views.operation_retry, name="operation-retry"),
]
