"""What an update of a plan changed: its window, interval and batch size, before → after.

An update operation keeps, in its `params`, what was asked (`start_time`, `end_time`, `interval`,
`slice_len`) and the plan as the mirror had it when it was asked (`before`); the worker adds ESA's
answer to its `result` (`after`), which wins over what was asked when they differ. Operations
recorded before `before` was kept say nothing of what they changed (`plan_update_changes` → None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

type Window = tuple[datetime | None, datetime | None]


def plan_settings(
    *, start_time: datetime | None, end_time: datetime | None, interval: int, slice_len: int
) -> dict[str, object]:
    """A plan's window and pace as an operation keeps them in JSON: times in UTC ISO 8601."""
    return {
        "start_time": start_time.isoformat() if start_time is not None else None,
        "end_time": end_time.isoformat() if end_time is not None else None,
        "interval": interval,
        "slice_len": slice_len,
    }


@dataclass(frozen=True, slots=True)
class PlanSettingChange:
    """One setting that an update changed: "window" (a (start, end) pair), "interval" or "batch size"."""

    name: str
    before: Window | int
    after: Window | int

    @property
    def is_window(self) -> bool:
        return self.name == "window"

    def text(self, moment: Callable[[datetime | None], str]) -> str:
        """In words, each time written by `moment`: "window A - B → C - D", "batch size 3 → 5" (en dashes)."""
        if isinstance(self.before, tuple) and isinstance(self.after, tuple):
            before = " \N{EN DASH} ".join(moment(time) for time in self.before)
            after = " \N{EN DASH} ".join(moment(time) for time in self.after)
            return f"window {before} → {after}"
        unit = " s" if self.name == "interval" else ""
        return f"{self.name} {self.before}{unit} → {self.after}{unit}"


@dataclass(frozen=True, slots=True)
class PlanUpdateChanges:
    """What one update changed: only the settings that differ; none when it changed nothing."""

    changes: tuple[PlanSettingChange, ...]

    def text(self, moment: Callable[[datetime | None], str]) -> str:
        if not self.changes:
            return "nothing changed"
        return "; ".join(change.text(moment) for change in self.changes)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _number(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def plan_update_changes(*, params: Mapping[str, Any], result: Mapping[str, Any]) -> PlanUpdateChanges | None:
    """What an update operation changed (see the module's docstring); None when it was not recorded."""
    before = params.get("before")
    if not isinstance(before, Mapping):
        return None
    answered = result.get("after")
    after: Mapping[str, Any] = answered if isinstance(answered, Mapping) else params
    changes: list[PlanSettingChange] = []
    old_window = (_time(before.get("start_time")), _time(before.get("end_time")))
    new_window = (_time(after.get("start_time")), _time(after.get("end_time")))
    if old_window != new_window:
        changes.append(PlanSettingChange("window", old_window, new_window))
    for key, name in (("interval", "interval"), ("slice_len", "batch size")):
        old, new = _number(before.get(key)), _number(after.get(key))
        if old is not None and new is not None and old != new:
            changes.append(PlanSettingChange(name, old, new))
    return PlanUpdateChanges(tuple(changes))


__all__ = ["PlanSettingChange", "PlanUpdateChanges", "plan_settings", "plan_update_changes"]
