"""Change versions of an incident's page: what lets its poll (every second, in every tab open
during the incident) ask "has anything I show changed since version v?" with one query, and be
sent only the rows that did.

Each incident counts its changes (`Incident.version`). A transaction that changes what the page
shows takes the incident's next version first, then stamps it on the steps it writes
(`HeldPlan.version`). Taking it is an UPDATE of the incident's row, which holds that row until
the transaction ends: the next writer of the same incident waits, so versions are handed out in
the order their transactions commit, and a reader who saw version v has seen every row stamped v
or less. Every writer takes it before touching the steps (always the incident's row first), so
two writers never wait on each other in a circle. A change that redraws the page as a whole (the
incident's status or phase, steps added) also moves `Incident.layout_version`.

The writers are the services that already write those rows: `holds`, `resumes` and the drainers
of `steps` (claim, outcome, release). Never views or signals.
"""

from __future__ import annotations

from django.db.models import F
from django.db.models.expressions import CombinedExpression

from prefetch_ui.core.change_counters import counter_next

from ..models import Incident


def incident_version_next(*, incident_id: int, whole: bool = False) -> int:
    """Take the incident's next change version, in the caller's transaction (which it requires);
    `whole`: the change redraws the page as a whole."""
    return counter_next(Incident, incident_id, also=("layout_version",) if whole else ())


def incident_redrawn() -> dict[str, CombinedExpression]:
    """The fields of an UPDATE of the incident's own row that changes its page as a whole (its
    status): both versions move, in the same statement (the right-hand sides read the old row)."""
    return {"version": F("version") + 1, "layout_version": F("version") + 1}


__all__ = ["incident_redrawn", "incident_version_next"]
