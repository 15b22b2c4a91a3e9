"""The simulated ListSites and job actions: create, list, get, delete and reset a job."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from .backend import BackendCore
from .wire import Answer, SimError, id_param, int_param, invalid, iso_z, missing, object_id

__all__ = ["JobActions"]

_SITE_SEARCH_TYPES = ("exact", "prefix", "suffix", "fuzzy")


class JobActions(BackendCore):
    # -- sites ----------------------------------------------------------------------------

    def list_sites(self, params: Mapping[str, str]) -> Answer:
        page_number, page_size = self._page(params, default_size=500)
        rows = list(self.db.execute("SELECT * FROM sites ORDER BY site_id"))
        name = params.get("SiteName", "").strip().lower()
        # An exact match unless told otherwise (the SDK's ListSitesRequest: "Default value: exact").
        search_type = params.get("SiteSearchType", "").strip() or "exact"
        if search_type not in _SITE_SEARCH_TYPES:
            raise invalid("SiteSearchType", f"Valid values: {', '.join(_SITE_SEARCH_TYPES)}.")
        if name:
            match search_type:
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
                    "CreateTime": iso_z(row["create_time"]),
                    "UpdateTime": iso_z(row["create_time"]),
                }
                for row in page
            ],
        }

    # -- jobs -----------------------------------------------------------------------------

    def create_scheduled_preload_job(self, params: Mapping[str, str]) -> Answer:
        site_id = int_param(params, "SiteId")
        site = self.db.execute("SELECT * FROM sites WHERE site_id = ?", (site_id,)).fetchone()
        if site is None:
            raise SimError(404, "InvalidSiteId.NotFound", "The specified site does not exist.")
        name = params.get("Name", "").strip()
        if not name:
            raise missing("Name")
        insert_way = params.get("InsertWay", "").strip()
        if not insert_way:
            raise missing("InsertWay")
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
            raise invalid("InsertWay", "Valid values: textBox, oss.")
        count = self.db.execute("SELECT COUNT(*) FROM jobs WHERE site_id = ?", (site_id,)).fetchone()[0]
        if count >= self.limits.max_jobs_per_site:
            raise SimError(
                400,
                "InvalidJob.JobCountOfSiteFull",
                "The maximum number of prefetch tasks for the website has been reached. "
                "Delete some unwanted ones and try again.",
            )
        if len(urls) > self.limits.max_urls_per_job:
            over, limit = len(urls) - self.limits.max_urls_per_job, self.limits.max_urls_per_job
            errors.append(f"quota excess:{over} urls over the limit of {limit} urls a job keeps")
            urls = urls[: self.limits.max_urls_per_job]
        flags, domains, url_errors = check_urls(urls, site["site_name"])
        errors.extend(url_errors)
        now = self.now()
        job_id = object_id(now)
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
                object_id(now),
                now,
            ),
        )
        return self._job_answer(job_id)

    def list_scheduled_preload_jobs(self, params: Mapping[str, str]) -> Answer:
        site_id = int_param(params, "SiteId")
        page_number, page_size = self._page(params, default_size=20)
        start_ms = int_param(params, "StartTime", default=-1)
        end_ms = int_param(params, "EndTime", default=-1)
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
        job_id = id_param(params)
        return self._job_answer(job_id)

    def delete_scheduled_preload_job(self, params: Mapping[str, str]) -> Answer:
        job_id = id_param(params)
        # Its batches due up to now went out before it goes (and used the site's quota).
        self._advanced(job_id)
        self.db.execute("DELETE FROM plans WHERE job_id = ?", (job_id,))
        self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return {}

    def reset_scheduled_preload_job(self, params: Mapping[str, str]) -> Answer:
        job_id = id_param(params)
        progress, plans = self._advanced(job_id)
        now = self.now()
        progress.cursor = 0
        progress.task_submitted = 0
        progress.quota_refused = 0
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


_MAX_LISTED_ERRORS = 20
# Any whitespace (the same characters as str.isspace): a URL holding one is refused. One regex search
# rather than a test per character: a job of 3,000 URLs is checked in a fraction of the time.
_WHITESPACE = re.compile(r"\s")


def check_urls(urls: list[str], site_domain: str) -> tuple[str, list[str], list[str]]:
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
        if not scheme_ok or not url.isascii() or _WHITESPACE.search(url):
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
