from __future__ import annotations

from django.urls import path, register_converter

from .views import jobs, new_job, plan_builder, preferences, sites


class EsaIdConverter:
    """An ESA job or plan id as a path segment: printable ASCII, at most the 24 characters a row holds.

    ESA's ids are 24 hex digits; this is looser, so that an id of another shape still has its page.
    What it refuses (NUL and other control bytes, spaces, non-ASCII, anything longer) names no row,
    and would otherwise reach a query: PostgreSQL answers a NUL with an error, not an empty result.
    """

    regex = r"[!-.0-~]{1,24}"  # 0x21-0x7E without "/"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


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
