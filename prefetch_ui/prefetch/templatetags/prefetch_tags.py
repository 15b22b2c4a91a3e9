"""Template tags of prefetch's own pages (the shared ones are prefetch_ui.web's `web` library)."""

from __future__ import annotations

from django import template

from prefetch_ui.web.template_tags import local

from ..models import Plan
from ..plan_changes import PlanUpdateChanges
from ..services.plan_edits import plan_edit_refusal

register = template.Library()


@register.filter
def plan_changes(changes: PlanUpdateChanges | None) -> str:
    """What an update of a plan changed, in words ("batch size 3 → 5"), times in the operator's zone."""
    return changes.text(local) if changes is not None else ""


@register.filter
def edit_refusal(plan: Plan) -> str:
    """Why the plan may not be edited ("" when it may): the job page offers no Edit then."""
    return plan_edit_refusal(plan=plan)
