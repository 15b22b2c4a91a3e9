from __future__ import annotations

from django.urls import path, register_converter
from django.urls.converters import StringConverter

from .views import jobs, new_job, plan_builder, preferences, sites


class EsaIdConverter(StringConverter):
    """An ESA id in a path: any text but a slash or a control character. No ESA id holds one, and
    PostgreSQL refuses a NUL in a query: such a path is a 404, not a server error."""

    regex = "[^/\x00-\x1f\x7f]+"


register_converter(EsaIdConverter, "esa_id")

urlpatterns = [
    path("", sites.site_list, name="home"),
    path("display-zone/", preferences.display_zone_set, name="display-zone"),
    path("sites/<int:site_esa_id>/", sites.site_detail, name="site-detail"),
    path("sites/<int:site_esa_id>/jobs/new/", new_job.job_new, name="job-new"),
    path("jobs/<esa_id:job_esa_id>/", jobs.job_detail, name="job-detail"),
    path("jobs/<esa_id:job_esa_id>/plans/new/", plan_builder.plan_builder, name="plan-builder"),
    path(
        "jobs/<esa_id:job_esa_id>/plans/new/preview/",
        plan_builder.plan_builder_preview,
        name="plan-builder-preview",
    ),
    path("jobs/<esa_id:esa_id>/<str:action>/", jobs.target_action, {"target": "job"}, name="job-action"),
    path("plans/<esa_id:plan_esa_id>/edit/", jobs.plan_edit, name="plan-edit"),
    path("plans/<esa_id:esa_id>/<str:action>/", jobs.target_action, {"target": "plan"}, name="plan-action"),
    path("operations/<int:operation_id>/retry/", jobs.operation_retry, name="operation-retry"),
]
