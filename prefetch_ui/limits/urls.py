from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("limits/", views.limits_list, name="limits"),
    path("sites/<int:site_esa_id>/limits/", views.site_limits_page, name="site-limits"),
    path("sites/<int:site_esa_id>/limits/summary/", views.site_limits_summary, name="site-limits-summary"),
]
