"""Template tags of prefetch's own pages (the shared ones are prefetch_ui.web's `web` library)."""

from __future__ import annotations

from django import template

from prefetch_ui.web.template_tags import local

from ..plan_changes import PlanUpdateChanges

register = template.Library()


@register.filter
def plan_changes(changes: PlanUpdateChanges | None) -> str:
    """What an update of a plan changed, in words ("batch size 3 → 5"), times in the operator's zone."""
    return changes.text(local) if changes is not None else ""
