"""Admin: incidents and the plans they held, to look at; they change only through the hold and the
resume (a row edited here would lie about what was done in ESA)."""

from __future__ import annotations

from django.contrib import admin

from prefetch_ui.prefetch.admin import ReadOnlyAdmin

from .models import HeldPlan, Incident


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin[Incident]):
    list_display = [
        "id",
        "scope",
        "status",
        "held_by",
        "held_at",
        "hold_done_at",
        "resumed_by",
        "resumed_at",
        "reason",
    ]
    list_filter = ["status", "site"]
    search_fields = ["reason", "resume_reason"]
    list_select_related = ["site", "held_by", "resumed_by"]
    date_hierarchy = "held_at"

    @admin.display(description="Scope", ordering="site__name")
    def scope(self, incident: Incident) -> str:
        return incident.scope_label


@admin.register(HeldPlan)
class HeldPlanAdmin(ReadOnlyAdmin[HeldPlan]):
    list_display = [
        "label",
        "plan_esa_id",
        "incident",
        "site",
        "original_status",
        "original_start",
        "original_end",
        "hold_action",
        "hold_outcome",
        "parked_start",
        "resume_action",
        "resume_outcome",
        "state",
        "error_code",
    ]
    list_filter = ["state", "hold_outcome", "resume_outcome", "found_by", "site"]
    search_fields = ["plan_esa_id", "job_esa_id", "label", "request_id", "error_code"]
    list_select_related = ["incident__site", "site"]
