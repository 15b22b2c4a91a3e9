"""The simulated ESA actions: ListSites and the eleven *ScheduledPreload* actions.

Each handler takes the request's decoded parameters and returns the answer's body (without
RequestId), or raises `SimError` with ESA's HTTP status, Code and Message.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from prefetch_ui.esa.times import EsaTimeError, parse_esa_time

from .engine import JobProgress, PlanProgress, advance, display_status
from .store import Store

__all__ = ["ACTIONS", "Backend", "Limits", "SimError"]

ALI_UID = "1568586500014622"
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_CHINA = timezone(timedelta(hours=8))
Answer = dict[str, Any]


class SimError(Exception):
    """An ESA error answer."""

    def __init__(self, status: int, code: str, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms


def _not_found_job() -> SimError:
    return SimError(
        404,
        "InvalidJob.NotFound",
        "The task does not exist. Check whether the task ID is correct or whether the task has been deleted.",
    )


def _not_found_plan() -> SimError:
    return SimError(
        404,
        "InvalidExecution.NotFound",
        "The execution plan does not exist. Check whether the parameters such as the execution ID, "
        "start time, and end time are correct.",
    )


def _missing(name: str) -> SimError:
    return SimError(
        400,
        "MissingParameter",
        f"The input parameter {name} that is mandatory for processing this request is not supplied.",
    )


def _invalid(name: str, why: str = "") -> SimError:
    return SimError(
        400, "InvalidParameter", f"The specified parameter {name} is not valid.{' ' + why if why else ''}"
    )


@dataclass(frozen=True, slots=True)
class Limits:
    """What ESA does not publish, as settings (REFERENCE.md: 'unknown')."""

    max_jobs_per_site: int = 100
    max_urls_per_job: int = 50_000
    max_plans_per_job: int = 100
    max_interval: int = 86_400
    max_slice_len: int = 1_000
    max_page_size: int = 500


def _object_id(clock_now: float) -> str:
    """A 24-hex id shaped like ESA's (a MongoDB ObjectId: seconds, then random bytes)."""
    return f"{int(clock_now) & 0xFFFFFFFF:08x}{os.urandom(8).hex()}"


def _iso_z(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_china_ms(seconds: float) -> str:
    """The `2024-05-31T17:10:48.849+08:00` shape ESA uses in Start/Stop/Update answers."""
    moment = datetime.fromtimestamp(seconds, _CHINA)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+08:00"


def _id_param(params: Mapping[str, str]) -> str:
    value = params.get("Id", "").strip()
    if not _OBJECT_ID.match(value):
        raise SimError(400, "InvalidParameter.ObjectId", "Invalid task ID or execution plan ID.")
    return value


def _int_param(params: Mapping[str, str], name: str, *, default: int | None = None) -> int:
    raw = params.get(name, "").strip()
    if raw == "":
        if default is None:
            raise _missing(name)
        return default
    try:
        return int(raw)
    except ValueError:
        raise _invalid(name) from None


class Backend:
    """The state machine behind the wire: every action reads and writes through `store`."""

    def __init__(self, store: Store, limits: Limits) -> None:
        self.store = store
        self.limits = limits

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def now(self) -> float:
        return self.store.clock.now()

    # -- loading and saving progress ------------------------------------------------------

    def _job_row(self, job_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise _not_found_job()
        return row

    def _plan_row(self, plan_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.execute("SELECT * FROM plans WHERE id = ?", (plan_id,)).fetchone()
        if row is None:
            raise _not_found_plan()
        return row

    def _load(self, job: sqlite3.Row) -> tuple[JobProgress, list[PlanProgress]]:
        progress = JobProgress(
            url_count=job["url_count"],
            valid_flags=job["valid_flags"],
            cursor=job["cursor"],
            task_submitted=job["task_submitted"],
        )
        plans = [
            PlanProgress(
                id=row["id"],
                seq=row["seq"],
                start_time=row["start_time"],
                end_time=row["end_time"],
                interval=row["interval"],
                slice_len=row["slice_len"],
                state=row["state"],
                next_batch_at=row["next_batch_at"],
                fired_since_start=bool(row["fired_since_start"]),
                urls_submitted=row["urls_submitted"],
                valid_submitted=row["valid_submitted"],
            )
            for row in self.db.execute("SELECT * FROM plans WHERE job_id = ? ORDER BY seq", (job["id"],))
        ]
        return progress, plans

    def _save(self, job_id: str, progress: JobProgress, plans: list[PlanProgress]) -> None:
        self.db.execute(
            "UPDATE jobs SET cursor = ?, task_submitted = ? WHERE id = ?",
            (progress.cursor, progress.task_submitted, job_id),
        )
        self.db.executemany(
            "UPDATE plans SET start_time = ?, end_time = ?, interval = ?, slice_len = ?, state = ?,"
            " next_batch_at = ?, fired_since_start = ?, urls_submitted = ?, valid_submitted = ? WHERE id = ?",
            [
                (
                    plan.start_time,
                    plan.end_time,
                    plan.interval,
                    plan.slice_len,
                    plan.state,
                    plan.next_batch_at,
                    int(plan.fired_since_start),
                    plan.urls_submitted,
                    plan.valid_submitted,
                    plan.id,
                )
                for plan in plans
            ],
        )

    def _advanced(self, job_id: str) -> tuple[JobProgress, list[PlanProgress]]:
        """The job's progress brought up to now, and saved."""
        progress, plans = self._load(self._job_row(job_id))
        advance(progress, plans, self.now())
        self._save(job_id, progress, plans)
        return progress, plans

    # -- rendering ------------------------------------------------------------------------

    def _job_answer(self, job_id: str, *, with_count: bool = False, advance_first: bool = True) -> Answer:
        if advance_first:
            self._advanced(job_id)
        job = self._job_row(job_id)
        answer: Answer = {
            "Id": job["id"],
            "SiteId": job["site_id"],
            "Name": job["name"],
            "InsertWay": job["insert_way"],
            "TaskType": "preload",
            "UrlCount": job["url_count"],
            "UrlSubmitted": job["cursor"],
            "TaskSubmitted": job["task_submitted"],
            "Domains": job["domains"],
            "ErrorInfo": job["error_info"],
            "FileId": job["file_id"],
            "FailedFileOss": "",
            "CreatedAt": _iso_z(job["created_at"]),
            "AliUid": ALI_UID,
        }
        if with_count:
            count = self.db.execute("SELECT COUNT(*) FROM plans WHERE job_id = ?", (job_id,)).fetchone()[0]
            answer["ExecutionCount"] = count
        return answer

    @staticmethod
    def _plan_answer(
        plan: PlanProgress, job_id: str, *, time_format: Callable[[float], str] = _iso_z
    ) -> Answer:
        return {
            "Id": plan.id,
            "JobId": job_id,
            "StartTime": time_format(plan.start_time),
            "EndTime": time_format(plan.end_time),
            "Interval": plan.interval,
            "SliceLen": plan.slice_len,
            "Status": display_status(plan),
            "AliUid": ALI_UID,
        }

    def _plan_in(self, plan_id: str) -> tuple[str, JobProgress, list[PlanProgress], PlanProgress]:
        job_id = str(self._plan_row(plan_id)["job_id"])
        progress, plans = self._advanced(job_id)
        plan = next(plan for plan in plans if plan.id == plan_id)
        return job_id, progress, plans, plan

    def _page(self, params: Mapping[str, str], *, default_size: int) -> tuple[int, int]:
        """A listing's PageNumber and PageSize, checked as ESA checks them."""
        page_number = _int_param(params, "PageNumber", default=1)
        page_size = _int_param(params, "PageSize", default=default_size)
        if page_number < 1:
            raise _invalid("PageNumber")
        if not 1 <= page_size <= self.limits.max_page_size:
            raise _invalid("PageSize", f"It must be between 1 and {self.limits.max_page_size}.")
        return page_number, page_size

    # -- sites ----------------------------------------------------------------------------

    def list_sites(self, params: Mapping[str, str]) -> Answer:
        page_number, page_size = self._page(params, default_size=500)
        rows = list(self.db.execute("SELECT * FROM sites ORDER BY site_id"))
        name = params.get("SiteName", "").strip().lower()
        if name:
            match params.get("SiteSearchType", "fuzzy"):
                case "exact":
                    rows = [row for row in rows if row["site_name"] == name]
                case "prefix":
                    rows = [row for row in rows if row["site_name"].startswith(name)]
                case "suffix":
                    rows = [row for row in rows if row["site_name"].endswith(name)]
                case _:
                    rows = [row for row in rows if name in row["site_name"]]
        if status := params.get("Status", "").strip():
            rows = [row for row in rows if row["status"] == status]
        page = rows[(page_number - 1) * page_size : page_number * page_size]
        return {
            "TotalCount": len(rows),
            "PageNumber": page_number,
            "PageSize": page_size,
            "Sites": [
                {
                    "SiteId": row["site_id"],
                    "SiteName": row["site_name"],
                    "Status": row["status"],
                    "AccessType": row["access_type"],
                    "Coverage": row["coverage"],
                    "PlanName": row["plan_name"],
                    "PlanSpecName": row["plan_name"],
                    "InstanceId": f"esa-site-{row['site_id']}",
                    "CreateTime": _iso_z(row["create_time"]),
                    "UpdateTime": _iso_z(row["create_time"]),
                }
                for row in page
            ],
        }

    # -- jobs -----------------------------------------------------------------------------

    def create_scheduled_preload_job(self, params: Mapping[str, str]) -> Answer:
        site_id = _int_param(params, "SiteId")
        site = self.db.execute("SELECT * FROM sites WHERE site_id = ?", (site_id,)).fetchone()
        if site is None:
            raise SimError(404, "InvalidSiteId.NotFound", "The specified site does not exist.")
        name = params.get("Name", "").strip()
        if not name:
            raise _missing("Name")
        insert_way = params.get("InsertWay", "").strip()
        if not insert_way:
            raise _missing("InsertWay")
        oss_url = ""
        errors: list[str] = []
        if insert_way == "textBox":
            lines = [line.strip() for line in params.get("UrlList", "").splitlines()]
            urls = [line for line in lines if line]
            if not urls:
                raise SimError(400, "MissingUrlList", "Enter the URLs you want to prefetch.")
        elif insert_way == "oss":
            oss_url = params.get("OssUrl", "").strip()
            if not oss_url:
                raise SimError(
                    400,
                    "MissingOssUrl",
                    "OssUrl missing. Specify a valid URL of the OSS object that stores URLs to prefetch.",
                )
            # The simulator cannot read OSS: such a job has no URLs, and says so.
            urls = []
            errors.append(f"other errors:oss object not readable by the simulator:{oss_url}")
        else:
            raise _invalid("InsertWay", "Valid values: textBox, oss.")
        count = self.db.execute("SELECT COUNT(*) FROM jobs WHERE site_id = ?", (site_id,)).fetchone()[0]
        if count >= self.limits.max_jobs_per_site:
            raise SimError(
                400,
                "InvalidJob.JobCountOfSiteFull",
                "The maximum number of prefetch tasks for the website has been reached. "
                "Delete some unwanted ones and try again.",
            )
        if len(urls) > self.limits.max_urls_per_job:
            errors.append(f"quota excess:{len(urls) - self.limits.max_urls_per_job} urls over the limit")
            urls = urls[: self.limits.max_urls_per_job]
        flags, domains, url_errors = _check_urls(urls, site["site_name"])
        errors.extend(url_errors)
        now = self.now()
        job_id = _object_id(now)
        self.db.execute(
            "INSERT INTO jobs (id, seq, site_id, name, insert_way, oss_url, urls, valid_flags, url_count,"
            " domains, error_info, file_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                self.store.next_seq("jobs"),
                site_id,
                name,
                insert_way,
                oss_url,
                "\n".join(urls),
                flags,
                len(urls),
                ",".join(domains),
                ",".join(errors),
                _object_id(now),
                now,
            ),
        )
        return self._job_answer(job_id)

    def list_scheduled_preload_jobs(self, params: Mapping[str, str]) -> Answer:
        site_id = _int_param(params, "SiteId")
        page_number, page_size = self._page(params, default_size=20)
        start_ms = _int_param(params, "StartTime", default=-1)
        end_ms = _int_param(params, "EndTime", default=-1)
        if start_ms >= 0 and end_ms >= 0 and end_ms < start_ms:
            raise SimError(
                400, "InvalidEndTime.Mismatch", "The specified EndTime is earlier than the StartTime."
            )
        where: list[str] = ["site_id = ?"]
        args: list[float] = [site_id]
        if start_ms >= 0:
            where.append("created_at >= ?")
            args.append(start_ms / 1000)
        if end_ms >= 0:
            where.append("created_at <= ?")
            args.append(end_ms / 1000)
        condition = " AND ".join(where)
        total = self.db.execute(f"SELECT COUNT(*) FROM jobs WHERE {condition}", args).fetchone()[0]  # noqa: S608
        ids = [
            row[0]
            for row in self.db.execute(
                f"SELECT id FROM jobs WHERE {condition} ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?",  # noqa: S608
                [*args, page_size, (page_number - 1) * page_size],
            )
        ]
        jobs = [self._job_answer(job_id, with_count=True) for job_id in ids]
        # ESA sends this total as a string.
        return {"TotalCount": str(total), "Jobs": jobs}

    def get_scheduled_preload_job(self, params: Mapping[str, str]) -> Answer:
        job_id = _id_param(params)
        return self._job_answer(job_id)

    def delete_scheduled_preload_job(self, params: Mapping[str, str]) -> Answer:
        job_id = _id_param(params)
        self._job_row(job_id)
        self.db.execute("DELETE FROM plans WHERE job_id = ?", (job_id,))
        self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return {}

    def reset_scheduled_preload_job(self, params: Mapping[str, str]) -> Answer:
        job_id = _id_param(params)
        progress, plans = self._advanced(job_id)
        now = self.now()
        progress.cursor = 0
        progress.task_submitted = 0
        for plan in plans:
            plan.urls_submitted = plan.valid_submitted = 0
            # A plan whose window is still open prefetches the list again from the start.
            if plan.state in ("finished", "failed") and plan.end_time > now:
                plan.state = "active"
                plan.fired_since_start = False
                plan.next_batch_at = max(now, plan.start_time)
        self._save(job_id, progress, plans)
        # The answer shows the job as reset, before a restarted plan's first batch goes out.
        return self._job_answer(job_id, advance_first=False)

    # -- plans ----------------------------------------------------------------------------

    def create_scheduled_preload_executions(self, params: Mapping[str, str]) -> Answer:
        job_id = _id_param(params)
        self._job_row(job_id)
        raw = params.get("Executions", "").strip()
        if not raw:
            raise _missing("Executions")
        try:
            executions = json.loads(raw)
        except ValueError:
            raise _invalid("Executions", "It must be a JSON array.") from None
        if not isinstance(executions, list) or not executions:
            raise _invalid("Executions", "It must be a non-empty JSON array.")
        now = self.now()
        succeeded: list[Answer] = []
        failed: list[Answer] = []
        messages: list[str] = []
        existing = self.db.execute("SELECT COUNT(*) FROM plans WHERE job_id = ?", (job_id,)).fetchone()[0]
        for execution in executions:
            plan_id = _object_id(now)
            problem, fields = self._check_execution(execution)
            if problem is None and existing >= self.limits.max_plans_per_job:
                problem = f"the task already has the maximum of {self.limits.max_plans_per_job} plans."
            if problem is not None:
                failed.append(_failed_execution(plan_id, job_id, execution))
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
                "INSERT INTO plans (id, seq, job_id, start_time, end_time, interval, slice_len, state,"
                " next_batch_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
                (plan.id, plan.seq, job_id, start, end, interval, slice_len, next_at, now),
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

    def _check_execution(self, execution: object) -> tuple[str | None, tuple[float, float, int, int]]:
        nothing = (0.0, 0.0, 0, 0)
        if not isinstance(execution, dict):
            return "an execution plan must be an object.", nothing
        times: list[float] = []
        for key, label in (("StartTime", "start time"), ("EndTime", "end time")):
            value = execution.get(key)
            if value in (None, ""):
                return f"{label} is required.", nothing
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
        if times[1] < times[0]:
            return "end time is before start time.", nothing
        return None, (times[0], times[1], numbers[0], numbers[1])

    def list_scheduled_preload_executions(self, params: Mapping[str, str]) -> Answer:
        job_id = _id_param(params)
        _, plans = self._advanced(job_id)
        return {"TotalCount": len(plans), "Executions": [self._plan_answer(plan, job_id) for plan in plans]}

    def update_scheduled_preload_execution(self, params: Mapping[str, str]) -> Answer:
        plan_id = _id_param(params)
        job_id, progress, plans, plan = self._plan_in(plan_id)
        start, end = plan.start_time, plan.end_time
        for key in ("StartTime", "EndTime"):
            if value := params.get(key, "").strip():
                try:
                    moment = parse_esa_time(value).timestamp()
                except EsaTimeError:
                    raise _invalid(key) from None
                start, end = (moment, end) if key == "StartTime" else (start, moment)
        if end < start:
            raise SimError(
                400, "InvalidEndTime.Mismatch", "The specified EndTime is earlier than the StartTime."
            )
        interval = _int_param(params, "Interval", default=plan.interval)
        slice_len = _int_param(params, "SliceLen", default=plan.slice_len)
        if not 1 <= interval <= self.limits.max_interval:
            raise _invalid("Interval", f"It must be between 1 and {self.limits.max_interval}.")
        if not 1 <= slice_len <= self.limits.max_slice_len:
            raise _invalid("SliceLen", f"It must be between 1 and {self.limits.max_slice_len}.")
        plan.start_time, plan.end_time, plan.interval, plan.slice_len = start, end, interval, slice_len
        if plan.state == "active" and not plan.fired_since_start:
            plan.next_batch_at = max(self.now(), start)
        self._save(job_id, progress, plans)
        return self._plan_answer(plan, job_id, time_format=_iso_china_ms)

    def delete_scheduled_preload_execution(self, params: Mapping[str, str]) -> Answer:
        plan_id = _id_param(params)
        self._plan_row(plan_id)
        self.db.execute("DELETE FROM plans WHERE id = ?", (plan_id,))
        return {}

    def start_scheduled_preload_execution(self, params: Mapping[str, str]) -> Answer:
        plan_id = _id_param(params)
        job_id, progress, plans, plan = self._plan_in(plan_id)
        if plan.state == "stopped":
            plan.state = "active"
            plan.fired_since_start = False
            plan.next_batch_at = max(self.now(), plan.start_time)
            self._save(job_id, progress, plans)
        return self._plan_answer(plan, job_id, time_format=_iso_china_ms)

    def stop_scheduled_preload_execution(self, params: Mapping[str, str]) -> Answer:
        plan_id = _id_param(params)
        job_id, progress, plans, plan = self._plan_in(plan_id)
        if plan.state == "active":
            # Progress so far is kept (it is in the job's cursor); the plan pauses.
            plan.state = "stopped"
            plan.next_batch_at = None
            self._save(job_id, progress, plans)
        return self._plan_answer(plan, job_id, time_format=_iso_china_ms)


def _failed_execution(plan_id: str, job_id: str, execution: object) -> Answer:
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


_MAX_LISTED_ERRORS = 20


def _check_urls(urls: list[str], site_domain: str) -> tuple[str, list[str], list[str]]:
    """Per URL, whether ESA would prefetch it; the distinct valid hosts; ErrorInfo entries."""
    flags: list[str] = []
    domains: list[str] = []
    bad_domains: list[str] = []
    bad_urls: list[str] = []
    for url in urls:
        host = ""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            scheme_ok = parts.scheme in ("http", "https") and bool(host)
        except ValueError:
            scheme_ok = False
        if not scheme_ok or any(ord(char) > 127 or char.isspace() for char in url):
            flags.append("0")
            if len(bad_urls) < _MAX_LISTED_ERRORS:
                bad_urls.append(url)
            continue
        if host != site_domain and not host.endswith("." + site_domain):
            flags.append("0")
            if host not in bad_domains:
                bad_domains.append(host)
            continue
        flags.append("1")
        if host not in domains:
            domains.append(host)
    errors = [f"invalid domain:{host}" for host in bad_domains[:_MAX_LISTED_ERRORS]]
    errors += [f"invalid url:{url}" for url in bad_urls]
    return "".join(flags), domains, errors


ACTIONS: dict[str, Callable[[Backend, Mapping[str, str]], Answer]] = {
    "ListSites": Backend.list_sites,
    "CreateScheduledPreloadJob": Backend.create_scheduled_preload_job,
    "ListScheduledPreloadJobs": Backend.list_scheduled_preload_jobs,
    "GetScheduledPreloadJob": Backend.get_scheduled_preload_job,
    "DeleteScheduledPreloadJob": Backend.delete_scheduled_preload_job,
    "ResetScheduledPreloadJob": Backend.reset_scheduled_preload_job,
    "CreateScheduledPreloadExecutions": Backend.create_scheduled_preload_executions,
    "ListScheduledPreloadExecutions": Backend.list_scheduled_preload_executions,
    "UpdateScheduledPreloadExecution": Backend.update_scheduled_preload_execution,
    "DeleteScheduledPreloadExecution": Backend.delete_scheduled_preload_execution,
    "StartScheduledPreloadExecution": Backend.start_scheduled_preload_execution,
    "StopScheduledPreloadExecution": Backend.stop_scheduled_preload_execution,
}
