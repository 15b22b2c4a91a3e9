"""Editing a plan: which plans may be edited, and the update an edit asks a worker to make.

ESA's pages say nothing of UpdateScheduledPreloadExecution on a plan that has finished or failed.
Such a plan does not run again by itself (only Reset job sends it again, within its window as it
stands), so a new window or pace would change nothing it does; the page would only show it
"finished" at a time it never ran. The safe rule, kept here and played by the simulator: a
finished or failed plan is not edited. A waiting, running or stopped plan is (a hold parks waiting
plans and a resume moves stopped ones back, both by an update).
"""

from __future__ import annotations

from ..models import Operation, OperationKind, Plan, PlanStatus
from .operations import User, operation_request

# The statuses in which ESA runs a plan no more by itself: an edit would change nothing it does.
SETTLED_PLAN_STATUSES = frozenset({PlanStatus.FINISHED, PlanStatus.FAILED})


class PlanEditRefused(ValueError):
    """The plan may not be edited; the message says why, in the operator's words."""


def plan_edit_refusal(*, plan: Plan) -> str:
    """Why `plan` may not be edited, in a sentence; "" when it may."""
    if plan.status not in SETTLED_PLAN_STATUSES:
        return ""
    return (
        f"This plan is {plan.status}: ESA does not run it again (only Reset job does, within its "
        "window as it stands), so a new window or pace would change nothing it does. To prefetch "
        "more, add a plan."
    )


def plan_update_request(
    *, user: User, plan: Plan, params: dict[str, object], via: str = ""
) -> tuple[Operation, bool]:
    """Ask a worker to update `plan` (see `operation_request`); PlanEditRefused when it may not be."""
    if refusal := plan_edit_refusal(plan=plan):
        raise PlanEditRefused(refusal)
    return operation_request(user=user, kind=OperationKind.PLAN_UPDATE, target=plan, params=params, via=via)


__all__ = ["SETTLED_PLAN_STATUSES", "PlanEditRefused", "plan_edit_refusal", "plan_update_request"]
