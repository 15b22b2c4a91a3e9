"""The simulator's state behind the wire: loading and saving a job's progress through the store,
and rendering jobs and plans as ESA's answers show them. The actions build on `BackendCore`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .engine import JobProgress, PlanProgress, advance_together, display_status
from .store import Store
from .wire import ALI_UID, Answer, int_param, invalid, iso_z, not_found_job, not_found_plan

__all__ = ["BackendCore", "Limits", "Quotas"]


@dataclass(frozen=True, slots=True)
class Limits:
    """What ESA does not publish, as settings (docs/esa-api.md#unknown)."""

    max_jobs_per_site: int = 100
    max_urls_per_job: int = 50_000
    max_plans_per_job: int = 100
    max_interval: int = 86_400
    max_slice_len: int = 1_000
    max_page_size: int = 500


@dataclass(frozen=True, slots=True)
class Quotas:
    """The account's quotas (docs/simulator.md#quotas); ESA publishes none of these numbers.

    The prefetch quota is URLs a day per site, counted as plans' batches hand valid URLs to the
    prefetch system, and renewed at midnight in `time_zone`. The purge quotas are only reported
    (the simulator has no purge actions): `purge_per_30_days` 0 means not configured, as in ESA.
    """

    preload_per_day: int = 1_000_000
    preload_per_site: Mapping[int, int] = field(default_factory=dict)
    time_zone: str = "Asia/Shanghai"
    purge_per_day: int = 10_000
    purge_per_30_days: int = 0

    def preload_quota(self, site_id: int) -> int:
        return self.preload_per_site.get(site_id, self.preload_per_day)

    def day_of(self, moment: float) -> tuple[float, float]:
        """The quota day holding `moment`: its first and its last-plus-one epoch second."""
        zone = ZoneInfo(self.time_zone)
        day = datetime.fromtimestamp(moment, zone).date()
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        following = day + timedelta(days=1)
        end = datetime(following.year, following.month, following.day, tzinfo=zone)
        return start.timestamp(), end.timestamp()


class BackendCore:
    """The state machine behind the wire: every action reads and writes through `store`."""

    def __init__(self, store: Store, limits: Limits, quotas: Quotas | None = None) -> None:
        self.store = store
        self.limits = limits
        self.quotas = quotas or Quotas()
        # Each plan's fields as `_load` last read them (or `_save` wrote them) in this call, so `_save`
        # writes only what changed. Every `_save` follows a `_load` of the same job in the same call
        # (`_advanced` starts afresh), with no other statement writing those plans in between.
        self._as_loaded: dict[str, PlanFields] = {}

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def now(self) -> float:
        return self.store.clock.now()

    # -- loading and saving progress ------------------------------------------------------

    def _job_row(self, job_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise not_found_job()
        return row

    def _plan_row(self, plan_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = self.db.execute("SELECT * FROM plans WHERE id = ?", (plan_id,)).fetchone()
        if row is None:
            raise not_found_plan()
        return row

    def _load(self, job: sqlite3.Row) -> tuple[JobProgress, list[PlanProgress]]:
        progress = JobProgress(
            url_count=job["url_count"],
            valid_flags=job["valid_flags"],
            cursor=job["cursor"],
            task_submitted=job["task_submitted"],
            quota_refused=job["quota_refused"],
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
        for plan in plans:
            self._as_loaded[plan.id] = _plan_fields(plan)
        return progress, plans

    def _save(self, job_id: str, progress: JobProgress, plans: list[PlanProgress]) -> None:
        self.db.execute(
            "UPDATE jobs SET cursor = ?, task_submitted = ?, quota_refused = ? WHERE id = ?",
            (progress.cursor, progress.task_submitted, progress.quota_refused, job_id),
        )
        # Only the plans that changed since `_load` read them are written: a call usually changes one
        # plan of a job's many, and each write also moves the plan in the `plans_due` index.
        changed = []
        for plan in plans:
            fields = _plan_fields(plan)
            if self._as_loaded.get(plan.id) != fields:
                changed.append((*fields, plan.id))
                self._as_loaded[plan.id] = fields
        self.db.executemany(
            "UPDATE plans SET start_time = ?, end_time = ?, interval = ?, slice_len = ?, state = ?,"
            " next_batch_at = ?, fired_since_start = ?, urls_submitted = ?, valid_submitted = ? WHERE id = ?",
            changed,
        )

    def _advanced(self, job_id: str) -> tuple[JobProgress, list[PlanProgress]]:
        """The job's progress brought up to now, and saved.

        Only on an `active` site that is not paused: elsewhere no batch goes out, so a waiting plan
        stays waiting. Each batch's valid URLs are charged to the site's prefetch quota of its day,
        in time order across the site's jobs (`_caught_up`), as ESA charges them as they go out.
        """
        # A fresh start for `_save`'s comparison: what an earlier call (maybe rolled back) read is gone.
        self._as_loaded.clear()
        job = self._job_row(job_id)
        if not self._site_runs(job["site_id"]):
            return self._load(job)
        return self._caught_up(job)

    def _caught_up(self, job: sqlite3.Row) -> tuple[JobProgress, list[PlanProgress]]:
        """`job` and every job of its site with a batch due up to now, advanced together; `job`'s progress.

        Computed lazily, one job at a time, a read after a long gap would charge all of one job's
        due batches before the next job's, and so refuse the wrong job's URLs once the quota runs
        out. So the site's due jobs (one lookup in the `plans_due` index: settled plans cost
        nothing) fire their batches in one time order, sharing one quota count: whichever job or
        listing is read first, each batch is admitted or refused as it would be in real time.
        Batches due at the same instant go out in job creation order, then plan creation order.
        """
        now = self.now()
        site_id = job["site_id"]
        due = self.db.execute(
            "SELECT * FROM jobs WHERE id IN (SELECT job_id FROM plans WHERE site_id = ? AND state = 'active'"
            " AND next_batch_at <= ?) AND id != ?",
            (site_id, now, job["id"]),
        ).fetchall()
        rows = sorted([job, *due], key=lambda row: int(row["seq"]))
        loaded = [self._load(row) for row in rows]
        fired = advance_together(loaded, now, admit=self._admitter(site_id))
        for row, (progress, plans) in zip(rows, loaded, strict=True):
            self._save(row["id"], progress, plans)
        if fired:
            # One statement for the lot: a catch-up after a long pause can fire many batches.
            self.db.execute(
                "INSERT INTO batches (at, plan_id, job_id, site_id, urls, admitted, refused)"
                " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
                " json_extract(value, '$[2]'), ?, json_extract(value, '$[3]'), json_extract(value, '$[4]'),"
                " json_extract(value, '$[5]')"
                " FROM json_each(?)",
                (
                    site_id,
                    json.dumps(
                        [[b.at, b.plan_id, rows[i]["id"], b.urls, b.admitted, b.refused] for i, b in fired]
                    ),
                ),
            )
        return loaded[[row["id"] for row in rows].index(job["id"])]

    def preload_used(self, site_id: int, moment: float) -> int:
        """The site's prefetch quota used on the quota day holding `moment` (batches recorded)."""
        start, end = self.quotas.day_of(moment)
        row = self.db.execute(
            "SELECT COALESCE(SUM(admitted), 0) FROM batches WHERE site_id = ? AND at >= ? AND at < ?",
            (site_id, start, end),
        ).fetchone()
        return int(row[0])

    def _admitter(self, site_id: int) -> Callable[[float, int], int]:
        """What a site's quota admits of a batch, day by day, for one `advance`."""
        quota = self.quotas.preload_quota(site_id)
        used: dict[float, int] = {}

        def admit(at: float, wanted: int) -> int:
            day = self.quotas.day_of(at)[0]
            if day not in used:
                used[day] = self.preload_used(site_id, at)
            admitted = max(0, min(wanted, quota - used[day]))
            used[day] += admitted
            return admitted

        return admit

    def _site_runs(self, site_id: int) -> bool:
        row = self.db.execute("SELECT status, paused FROM sites WHERE site_id = ?", (site_id,)).fetchone()
        return row is not None and row[0] == "active" and not row[1]

    def _site_status(self, site_id: int) -> str:
        row = self.db.execute("SELECT status FROM sites WHERE site_id = ?", (site_id,)).fetchone()
        return "" if row is None else str(row[0])

    def add_site(
        self, site_name: str, *, status: str = "active", plan_name: str = "basic", access_type: str = "NS"
    ) -> int:
        """Add a site to the account, as creating one in ESA's console does; returns its SiteId.
        `access_type`: how it is connected, `NS` or `CNAME` (ListSites' AccessType)."""
        row = self.db.execute("SELECT COALESCE(MAX(site_id), 0) + 1 FROM sites").fetchone()
        site_id = int(row[0])
        self.db.execute(
            "INSERT INTO sites VALUES (?, ?, ?, ?, 'global', ?, ?, 0)",
            (site_id, site_name.strip().lower(), status, access_type, plan_name, self.now()),
        )
        return site_id

    def set_site_status(self, site_id: int, status: str) -> None:
        """Change a site's status, as ESA does when a site is paused, moved or activated.

        Batches due while the site was not active are not made up for afterwards: plans carry on
        from the moment it turns active again.
        """
        if self._site_status(site_id) == status:
            return
        self._change_site(site_id, "UPDATE sites SET status = ? WHERE site_id = ?", (status, site_id))

    def set_site_paused(self, site_id: int, paused: bool) -> None:
        """Pause a site or resume it (UpdateSitePause): a paused site's plans wait, as an inactive one's."""
        self._change_site(site_id, "UPDATE sites SET paused = ? WHERE site_id = ?", (int(paused), site_id))

    def _change_site(self, site_id: int, statement: str, args: tuple[object, ...]) -> None:
        runs_before = self._site_runs(site_id)
        job_ids = [row[0] for row in self.db.execute("SELECT id FROM jobs WHERE site_id = ?", (site_id,))]
        for job_id in job_ids:
            self._advanced(job_id)  # up to now, under the old state
        self.db.execute(statement, args)
        if self._site_runs(site_id) and not runs_before:
            self.db.execute(
                "UPDATE plans SET next_batch_at = MAX(next_batch_at, ?) WHERE state = 'active' AND"
                " next_batch_at IS NOT NULL AND job_id IN (SELECT id FROM jobs WHERE site_id = ?)",
                (self.now(), site_id),
            )

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
            "ErrorInfo": _error_info(job["error_info"], job["quota_refused"]),
            "FileId": job["file_id"],
            "FailedFileOss": "",
            "CreatedAt": iso_z(job["created_at"]),
            "AliUid": ALI_UID,
        }
        if with_count:
            count = self.db.execute("SELECT COUNT(*) FROM plans WHERE job_id = ?", (job_id,)).fetchone()[0]
            answer["ExecutionCount"] = count
        return answer

    @staticmethod
    def _plan_answer(
        plan: PlanProgress, job_id: str, *, time_format: Callable[[float], str] = iso_z
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
        page_number = int_param(params, "PageNumber", default=1)
        page_size = int_param(params, "PageSize", default=default_size)
        if page_number < 1:
            raise invalid("PageNumber")
        if not 1 <= page_size <= self.limits.max_page_size:
            raise invalid("PageSize", f"It must be between 1 and {self.limits.max_page_size}.")
        return page_number, page_size


# A plan's stored fields, in the order `_save` writes them.
type PlanFields = tuple[float, float, int, int, str, float | None, int, int, int]


def _plan_fields(plan: PlanProgress) -> PlanFields:
    return (
        plan.start_time,
        plan.end_time,
        plan.interval,
        plan.slice_len,
        plan.state,
        plan.next_batch_at,
        int(plan.fired_since_start),
        plan.urls_submitted,
        plan.valid_submitted,
    )


def _error_info(recorded: str, quota_refused: int) -> str:
    """The job's ErrorInfo: what was found at its creation, then the URLs the prefetch quota refused.

    Entries are written as ESA writes its one published example (`invalid domain:test.com`): the
    kind in words, a colon, the detail. Both quota entries are of the kind QuotaExcess; their details
    tell the daily quota's refusals from the URLs a job could not keep (prefetch/error_info.py)."""
    if not quota_refused:
        return recorded
    entry = f"quota excess:{quota_refused} urls refused (the site's daily prefetch quota was used up)"
    return f"{recorded},{entry}" if recorded else entry
