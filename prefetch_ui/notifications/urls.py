from __future__ import annotations

from django.urls import path

# Registers the `esa_id` path converter (an ESA id, never a NUL or a space that would reach a query).
import prefetch_ui.prefetch.urls  # noqa: F401

from . import views

urlpatterns = [
    path("notifications/", views.channel_list_page, name="notification-channels"),
    path("notifications/channels/<int:channel_id>/", views.channel_detail_page, name="notification-channel"),
    path(
        "notifications/channels/<int:channel_id>/test/", views.channel_test, name="notification-channel-test"
    ),
    path(
        "notifications/channels/<int:channel_id>/rotate/",
        views.channel_rotate,
        name="notification-channel-rotate",
    ),
    path(
        "notifications/channels/<int:channel_id>/remove/",
        views.channel_remove,
        name="notification-channel-remove",
    ),
    path("notifications/deliveries/", views.delivery_list_page, name="notification-deliveries"),
    path(
        "notifications/deliveries/<int:delivery_id>/again/",
        views.delivery_again,
        name="notification-delivery-again",
    ),
    path("notifications/jobs/<esa_id:job_esa_id>/deadline/", views.job_deadline, name="job-deadline"),
]
