"""The receiver pages, under /alerts/receivers/, and the receivers' addresses, /hooks/<slug>/."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("alerts/receivers/", views.receiver_list_view, name="alert-receivers"),
    path("alerts/receivers/new/", views.receiver_new_view, name="alert-receiver-new"),
    path("alerts/receivers/<int:receiver_id>/", views.receiver_detail_view, name="alert-receiver"),
    path("alerts/receivers/<int:receiver_id>/edit/", views.receiver_edit_view, name="alert-receiver-edit"),
    path(
        "alerts/receivers/<int:receiver_id>/disable/",
        views.receiver_disable_view,
        name="alert-receiver-disable",
    ),
    path(
        "alerts/receivers/<int:receiver_id>/rotate/", views.receiver_rotate_view, name="alert-receiver-rotate"
    ),
    path("alerts/receivers/<int:receiver_id>/rules/", views.rule_add_view, name="alert-rule-add"),
    path(
        "alerts/receivers/<int:receiver_id>/rules/<int:rule_id>/remove/",
        views.rule_remove_view,
        name="alert-rule-remove",
    ),
    path("hooks/<str:slug>/", views.hook_view, name="alert-hook"),
]
