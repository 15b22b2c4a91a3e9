"""Admin: everything is visible; nothing mirrored from ESA can be edited here (the sync owns it)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from .models import Job, Operation, Plan, Site


class ReadOnlyAdmin[M: Model](admin.ModelAdmin[M]):
    """Rows written by the sync or by tasks: changing them here would be overwritten or lie."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # A filter's value goes into the query as it is, and PostgreSQL refuses a NUL in text.
        if any("\x00" in value for _, values in request.GET.lists() for value in values):
            return HttpResponseBadRequest("A filter or search of this list contains a NUL character.")
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Site)
class SiteAdmin(ReadOnlyAdmin[Site]):
    list_display = ["name", "esa_id", "status", "plan_name", "synced_at"]
    search_fields = ["name", "esa_id"]


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin[Job]):
    list_display = ["name", "esa_id", "site", "url_submitted", "url_count", "esa_created_at", "synced_at"]
    list_filter = ["site"]
    search_fields = ["name", "esa_id"]


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin[Plan]):
    list_display = ["esa_id", "job", "status", "start_time", "end_time", "interval", "slice_len", "synced_at"]
    list_filter = ["status"]
    search_fields = ["esa_id", "job__name", "job__esa_id"]


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin[Operation]):
    list_display = ["created_at", "kind", "target_label", "status", "attempts", "requested_by", "error_code"]
    list_filter = ["status", "kind"]
    search_fields = ["target_esa_id", "target_label", "request_id", "error_code"]
