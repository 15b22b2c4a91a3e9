"""The simulated plan (execution) actions: create a batch, list, update, delete, start, stop."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from prefetch_ui.esa.times import EsaTimeError, parse_esa_time

from .backend import BackendCore
from .engine import PlanProgress, display_status
from .wire import ALI_UID, Answer, SimError, id_param, int_param, invalid, iso_china_ms, missing, object_id

__all__ = ["PlanActions"]


class PlanActions(BackendCore):
    # -- plans ----------------------------------------------------------------------------

    def create_scheduled_preload_executions(self, params: Mapping[str, str]) -> Answer:
        job_id = id_param(params)
        progress, _ = self._advanced(job_id)
        site_id = int(self._job_row(job_id)["site_id"])
        raw = params.get("Executions", "").strip()
        if not raw:
            raise missing("Executions")
        try:
            executions = json.loads(raw)
        except ValueError:
            raise invalid("Executions", "It must be a JSON array.") from None
        if not isinstance(executions, list) or not executions:
            raise invalid("Executions", "It must be a non-empty JSON array.")
        now = self.now()
        succeeded: list[Answer] = []
        failed: list[Answer] = []
        messages: list[str] = []
        existing = self.db.execute("SELECT COUNT(*) FROM plans WHERE job_id = ?", (job_id,)).fetchone()[0]
        for execution in executions:
            plan_id = object_id(now)
            problem, fields = self._check_execution(
                execution, now=now, urls_left=progress.url_count - progress.cursor
            )
            if problem is None and existing >= self.limits.max_plans_per_job:
                problem = f"the task already has the maximum of {self.limits.max_plans_per_job} plans."
            if problem is not None:
                failed.append(failed_execution(plan_id, job_id, execution))
                messages.append(f"execution id: {plan_id}, error: {problem}")
                continue
            start, end, interval, slice_len = fields
            next_at = max(now, start)
            plan = PlanProgress(
                id=plan_id,
                seq=self.store.next_seq("plans"),
                start_time=start,
                end_time=end,
                interval=interval,
                slice_len=slice_len,
                state="active",
                next_batch_at=next_at,
            )
            self.db.execute(
                "INSERT INTO plans (id, seq, job_id, site_id, start_time, end_time, interval, slice_len,"
                " state, next_batch_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
                (plan.id, plan.seq, job_id, site_id, start, end, interval, slice_len, next_at, now),
            )
            existing += 1
            succeeded.append(self._plan_answer(plan, job_id))
        return {
            "TotalCount": len(executions),
            "SuccessCount": len(succeeded),
            "SuccessExecutions": succeeded,
            "FailedExecutions": failed,
            "FailedMessages": messages,
        }

    def _check_execution(
        self, execution: object, *, now: float, urls_left: int
    ) -> tuple[str | None, tuple[float, float, int, int]]:
        """A plan's problem, or its window and rate.

        StartTime and EndTime are optional (CreateScheduledPreloadExecutions page). Without them ESA
        publishes nothing; we play (docs/esa-api.md#create-plans): no StartTime, the plan starts when
        ESA gets it; no EndTime, its window ends at the batch that sends the job's last URL (as the
        job stands now), so the plan runs until the URLs are sent. The answer shows both times.
        """
        nothing = (0.0, 0.0, 0, 0)
        if not isinstance(execution, dict):
            return "an execution plan must be an object.", nothing
        times: list[float | None] = []
        for key, label in (("StartTime", "start time"), ("EndTime", "end time")):
            value = execution.get(key)
            if value in (None, ""):
                times.append(None)
                continue
            try:
                times.append(parse_esa_time(str(value)).timestamp())
            except EsaTimeError:
                return f"{label} is not a valid time.", nothing
        numbers: list[int] = []
        for key, label, ceiling in (
            ("Interval", "interval", self.limits.max_interval),
            ("SliceLen", "slice length", self.limits.max_slice_len),
        ):
            value = execution.get(key)
            if isinstance(value, bool) or not isinstance(value, int | str):
                return f"{label} is required and must be an integer.", nothing
            try:
                number = int(value)
            except ValueError:
                return f"{label} must be an integer.", nothing
            if not 1 <= number <= ceiling:
                return f"{label} must be between 1 and {ceiling}.", nothing
            numbers.append(number)
        interval, slice_len = numbers
        start = now if times[0] is None else times[0]
        end = times[1]
        if end is None:
            batches = max(1, math.ceil(max(0, urls_left) / slice_len))
            end = start + (batches - 1) * interval
        if end < start:
            return "end time is before start time.", nothing
        return None, (start, end, interval, slice_len)

    def list_scheduled_preload_executions(self, params: Mapping[str, str]) -> Answer:
        job_id = id_param(params)
        _, plans = self._advanced(job_id)
        return {"TotalCount": len(plans), "Executions": [self._plan_answer(plan, job_id) for plan in plans]}

    def update_scheduled_preload_execution(self, params: Mapping[str, str]) -> Answer:
        plan_id = id_param(params)
        job_id, progress, plans, plan = self._plan_in(plan_id)
        start, end = plan.start_time, plan.end_time
        for key in ("StartTime", "EndTime"):
            if value := params.get(key, "").strip():
                try:
                    moment = parse_esa_time(value).timestamp()
                except EsaTimeError:
                    raise invalid(key) from None
                start, end = (moment, end) if key == "StartTime" else (start, moment)
        if end < start:
            raise SimError(
                400, "InvalidEndTime.Mismatch", "The specified EndTime is earlier than the StartTime."
            )
        interval = int_param(params, "Interval", default=plan.interval)
        slice_len = int_param(params, "SliceLen", default=plan.slice_len)
        if not 1 <= interval <= self.limits.max_interval:
            raise invalid("Interval", f"It must be between 1 and {self.limits.max_interval}.")
        if not 1 <= slice_len <= self.limits.max_slice_len:
            raise invalid("SliceLen", f"It must be between 1 and {self.limits.max_slice_len}.")
        # The parameters first, then the state. ESA's pages do not say whether a settled plan can
        # be moved; it runs no more, so a new window would change nothing it does: refused
        # (docs/esa-api.md#update). The code is ours.
        if (status := display_status(plan)) in ("finished", "failed"):
            raise SimError(
                400,
                "OperationDenied.ExecutionSettled",
                f"The execution plan is {status}: only a waiting, running or stopped plan can be updated.",
            )
        plan.start_time, plan.end_time, plan.interval, plan.slice_len = start, end, interval, slice_len
        if plan.state == "active" and not plan.fired_since_start:
            plan.next_batch_at = max(self.now(), start)
        self._save(job_id, progress, plans)
        return self._plan_answer(plan, job_id, time_format=iso_china_ms)

    def delete_scheduled_preload_execution(self, params: Mapping[str, str]) -> Answer:
        plan_id = id_param(params)
        # Its batches due up to now went out before it goes (and used the site's quota).
        self._plan_in(plan_id)
        self.db.execute("DELETE FROM plans WHERE id = ?", (plan_id,))
        return {}

    def start_scheduled_preload_execution(self, params: Mapping[str, str]) -> Answer:
        plan_id = id_param(params)
        job_id, progress, plans, plan = self._plan_in(plan_id)
        if plan.state != "stopped":
            raise SimError(
                400,
                "OperationDenied.ExecutionNotStopped",
                f"The execution plan is {display_status(plan)}: only a stopped plan can be started.",
            )
        plan.state = "active"
        plan.fired_since_start = False
        plan.next_batch_at = max(self.now(), plan.start_time)
        self._save(job_id, progress, plans)
        return self._plan_answer(plan, job_id, time_format=iso_china_ms)

    def stop_scheduled_preload_execution(self, params: Mapping[str, str]) -> Answer:
        plan_id = id_param(params)
        job_id, progress, plans, plan = self._plan_in(plan_id)
        # ESA stops only a running plan (docs/esa-api.md#stop): a waiting plan stays armed, a settled one
        # stays as it is. The code is ours; ESA does not publish its own.
        if display_status(plan) != "running":
            raise SimError(
                400,
                "OperationDenied.ExecutionNotRunning",
                f"The execution plan is {display_status(plan)}: only a running plan can be stopped.",
            )
        # Progress so far is kept (it is in the job's cursor); the plan pauses.
        plan.state = "stopped"
        plan.next_batch_at = None
        self._save(job_id, progress, plans)
        return self._plan_answer(plan, job_id, time_format=iso_china_ms)


def failed_execution(plan_id: str, job_id: str, execution: object) -> Answer:
    fields = execution if isinstance(execution, dict) else {}
    return {
        "Id": plan_id,
        "JobId": job_id,
        "StartTime": str(fields.get("StartTime", "")),
        "EndTime": str(fields.get("EndTime", "")),
        "Interval": fields.get("Interval") if isinstance(fields.get("Interval"), int) else 0,
        "SliceLen": fields.get("SliceLen") if isinstance(fields.get("SliceLen"), int) else 0,
        "Status": "failed",
        "AliUid": ALI_UID,
    }
