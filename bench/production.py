"""The product as production runs it, for the benchmarks: its processes, and what its sync did meanwhile.

`make run` (prefetch_ui/dev/devserver.py) and docker/compose.yaml start one Celery worker (its pool of
threads, both queues), beat with the sync every `PREFETCH_SYNC_PERIOD` (3 s by default) and the web
server (here gunicorn with 2 workers, production settings); the simulator allows `--max-qps Q` and
the product's ESA budget is Q. `processes_start` starts those parts in that shape, nothing held still.

What the sync did during a window (a hold, a load phase) is read back afterwards:
- its cycles, from the worker's log: each cycle logs "ESA sync cycle started" and its end ("ESA sync:
  N calls, ...") with its Celery task id, and Celery logs how the task ended (`celery.app.trace`, also
  for a cycle that raised); a cycle whose worker was killed ends with it. Cycles that run at once
  are counted (the product promises none); skipped cycles too;
- its share of the ESA calls: from `/metrics` when the ESA call counter carries a caller label (one
  other than action and code) with a sync value, else from the simulator's own log: List* calls
  (ListSites, ListScheduledPreloadJobs, ListScheduledPreloadExecutions) in the window, less the
  listings the incident's steps recorded making (by RequestId).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.stack import Stack

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "LIST_ACTIONS",
    "WORKER",
    "SyncCycles",
    "SyncShare",
    "click_hold",
    "esa_calls_by_caller",
    "hold_listing_request_ids",
    "processes_start",
    "session_cookie",
    "sync_cycles_read",
    "sync_share",
]

WORKER = "worker"  # the one worker `make run` starts
WEB_WORKERS = 2
LIST_ACTIONS = frozenset({"ListSites", "ListScheduledPreloadJobs", "ListScheduledPreloadExecutions"})
_ESA_CALLS = "prefetch_esa_calls"
_CALL_LABELS = frozenset({"action", "code"})
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_SYNC_END = re.compile(r"ESA sync: (\d+) calls, \d+ sites \(\d+ failed[^)]*\), (\d+) jobs")
_CHILD = re.compile(r"^\S+ \[([^\]]+)\]\s*")


def processes_start(stack: Stack, run_dir: Path, *, web_port: int) -> str:
    """The worker, beat and gunicorn as `make run` has them (the simulator and Redis are the caller's);
    returns gunicorn's URL. The children read the environment as it is now (the sync's period and
    the budget among it)."""
    from bench.incident import _workers_alive

    stack.start_worker(WORKER)
    stack.wait_for("the worker's heartbeat", lambda: _workers_alive(1), timeout=60)
    stack.start_beat(run_dir / "celerybeat-schedule")
    return stack.start_web(web_port, workers=WEB_WORKERS)


def session_cookie(user: User) -> tuple[str, str]:
    """A logged-in session for `user`, as the browser would hold it after the login page."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value


def click_hold(web: str, user: User, *, site_id: int, reason: str) -> tuple[int, float]:
    """The operator's confirmation and click over HTTP through gunicorn; returns (status, ms of the click)."""
    from django.urls import reverse

    from bench.incident import HarnessError

    name, value = session_cookie(user)
    with httpx.Client(base_url=web, cookies={name: value}, timeout=30) as http:
        confirm = http.get(reverse("hold-new"), params={"site": str(site_id)})
        token = _CSRF.search(confirm.text)
        if confirm.status_code != 200 or token is None:
            raise HarnessError(f"the hold's confirmation answered {confirm.status_code} without a form")
        started = time.perf_counter()
        response = http.post(
            reverse("hold-new"),
            data={"site": str(site_id), "reason": reason, "csrfmiddlewaretoken": token.group(1)},
        )
        return response.status_code, (time.perf_counter() - started) * 1000


# -- the sync's cycles, from the worker's log ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncCycle:
    task_id: str
    started: float  # epoch seconds
    ended: float | None  # None: still running when the log was read
    calls: int | None = None  # from its end line
    jobs: int | None = None


@dataclass(slots=True)
class SyncCycles:
    """The sync's cycles that ran (wholly or partly) in a window, and those skipped in it."""

    cycles: list[SyncCycle] = field(default_factory=list)
    skipped: int = 0

    @property
    def overlapping(self) -> int:
        """Cycles that started while another was still running (0 is the product's promise)."""
        count = 0
        ordered = sorted(self.cycles, key=lambda cycle: cycle.started)
        for index, cycle in enumerate(ordered):
            if any(other.ended is None or other.ended > cycle.started for other in ordered[:index]):
                count += 1
        return count

    def line(self) -> str:
        ended = [cycle for cycle in self.cycles if cycle.ended is not None]
        longest = max((cycle.ended - cycle.started for cycle in ended if cycle.ended), default=0.0)
        return (
            f"{len(self.cycles)} sync cycle(s), {self.overlapping} overlapping (must be 0),"
            f" {self.skipped} skipped, the longest {longest:.1f} s"
        )


def _record(line: str) -> tuple[str, dict[str, Any]] | None:
    """(child, JSON record) of a child's JSON log line; None for anything else."""
    child = _CHILD.match(line)
    start = line.find("{")
    if child is None or start < 0:
        return None
    try:
        record = json.loads(line[start:])
    except ValueError:
        return None
    return (child.group(1), record) if isinstance(record, dict) else None


def _epoch(record: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(str(record["time"])).timestamp()


def sync_cycles_read(
    log_path: Path, *, since: float, until: float, deaths: Mapping[str, Sequence[float]] = {}
) -> SyncCycles:
    """The sync cycles of the processes' log that ran in [since, until]; `deaths`: when each worker
    (by child name) was killed, which ends the cycle it was running."""
    starts: dict[str, tuple[str, float]] = {}  # task id -> (child, started)
    ends: dict[str, float] = {}
    figures: dict[str, tuple[int, int]] = {}
    skipped = 0
    with log_path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            if "sync" not in line and "celery.app.trace" not in line:
                continue
            parsed = _record(line)
            if parsed is None:
                continue
            child, record = parsed
            message = str(record.get("message", ""))
            task_id = record.get("task_id")
            if message == "ESA sync cycle started" and task_id:
                starts[str(task_id)] = (child, _epoch(record))
            elif (found := _SYNC_END.match(message)) and task_id:
                figures[str(task_id)] = (int(found.group(1)), int(found.group(2)))
            elif message.startswith("sync cycle skipped") and since <= _epoch(record) <= until:
                skipped += 1
            elif record.get("logger") == "celery.app.trace" and isinstance(record.get("data"), dict):
                ends.setdefault(str(record["data"].get("id")), _epoch(record))
    cycles = SyncCycles(skipped=skipped)
    for task_id, (child, started) in starts.items():
        ended = ends.get(task_id)
        if ended is None:
            ended = next((at for at in sorted(deaths.get(child, ())) if at >= started), None)
        if started > until or (ended is not None and ended < since):
            continue
        calls, jobs = figures.get(task_id, (None, None))
        cycles.cycles.append(SyncCycle(task_id, started, ended, calls, jobs))
    cycles.cycles.sort(key=lambda cycle: cycle.started)
    return cycles


# -- the sync's share of the ESA calls --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncShare:
    sync_calls: int
    all_calls: int
    source: str

    def line(self) -> str:
        share = self.sync_calls / self.all_calls if self.all_calls else 0.0
        return f"sync {self.sync_calls} of {self.all_calls} ESA calls = {share:.0%} ({self.source})"


def esa_calls_by_caller(web: str) -> dict[str, int] | None:
    """ESA calls so far per caller, from `/metrics`; None when the counter has no caller label."""
    try:
        text = httpx.get(f"{web}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    by_caller: dict[str, int] = {}
    labelled = False
    for family in text_string_to_metric_families(text):
        if family.name != _ESA_CALLS:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            extra = [value for key, value in sample.labels.items() if key not in _CALL_LABELS]
            labelled = labelled or bool(extra)
            caller = extra[0] if extra else ""
            by_caller[caller] = by_caller.get(caller, 0) + int(sample.value)
    return by_caller if labelled else None


def hold_listing_request_ids(incident_ids: Collection[int]) -> set[str]:
    """The RequestIds of the plan listings the incidents' steps made (recorded on each step)."""
    from prefetch_ui.incidents.models import HeldPlan

    ids: set[str] = set()
    for calls in HeldPlan.objects.filter(incident_id__in=incident_ids).values_list("calls", flat=True):
        for call in calls or ():
            if call.get("action") in LIST_ACTIONS and call.get("request_id"):
                ids.add(str(call["request_id"]))
    return ids


def sync_share(
    *,
    calls: Iterable[Mapping[str, Any]],
    since: float,
    until: float,
    not_sync: Collection[str] = frozenset(),
    metrics_before: Mapping[str, int] | None = None,
    metrics_after: Mapping[str, int] | None = None,
) -> SyncShare:
    """The sync's calls among all ESA calls in [since, until]: from the metrics' caller label when
    both snapshots have it, else from the simulator's call log (`not_sync`: RequestIds of listings
    made by someone else, the incident's steps)."""
    if metrics_before is not None and metrics_after is not None:
        delta = {
            caller: metrics_after.get(caller, 0) - metrics_before.get(caller, 0)
            for caller in set(metrics_before) | set(metrics_after)
        }
        sync = sum(n for caller, n in delta.items() if "sync" in caller.lower())
        return SyncShare(sync, sum(delta.values()), "/metrics, caller label")
    window = [call for call in calls if since <= float(call["at"]) <= until]
    sync = sum(
        1 for call in window if call["action"] in LIST_ACTIONS and call.get("request_id") not in not_sync
    )
    return SyncShare(sync, len(window), "the simulator's call log: List* calls, less the steps' own")


def sync_rows(
    measured: Sequence[tuple[SyncShare | None, SyncCycles]], *, cycles_label: str
) -> list[tuple[str, list[str]]]:
    """The rows every benchmark's table has about the sync, one cell a run: its share of the ESA
    calls, its cycles (`cycles_label`), how many overlapped (a miss unless 0) and how many were
    skipped."""
    return [
        (
            "sync's share of the ESA calls",
            [
                "-"
                if share is None
                else f"{share.sync_calls}/{share.all_calls}"
                f" = {share.sync_calls / max(1, share.all_calls):.0%}"
                for share, _ in measured
            ],
        ),
        (cycles_label, [str(len(cycles.cycles)) for _, cycles in measured]),
        ("  overlapping", [f"{cycles.overlapping} (must be 0)" for _, cycles in measured]),
        ("  skipped", [str(cycles.skipped) for _, cycles in measured]),
    ]
