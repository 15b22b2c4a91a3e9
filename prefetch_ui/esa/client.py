"""A small typed client for ESA's scheduled-prefetch OpenAPI (version 2024-09-10, RPC style): one
method per action, over the generic call (`rpc.RpcClient`: the wire protocol, signing, retries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from .errors import EsaBadAnswerError
from .rpc import RpcClient
from .times import format_esa_time, to_epoch_ms
from .types import CreatePlansResult, InstanceQuotas, Job, Page, Plan, PlanSpec, PurgeQuota, Site, int_field

__all__ = ["EsaClient"]


class EsaClient(RpcClient):
    """ESA OpenAPI client. Thread-safe for concurrent calls; close it (or use `with`) when done."""

    def __repr__(self) -> str:
        return f"EsaClient(endpoint={self.endpoint!r})"

    # -- sites ------------------------------------------------------------------------------

    def list_sites(
        self,
        *,
        page_number: int = 1,
        page_size: int = 500,
        site_name: str | None = None,
        site_search_type: str | None = None,
    ) -> Page[Site]:
        """One page of the account's sites (ListSites).

        ESA matches `site_name` exactly unless `site_search_type` says `prefix`, `suffix` or `fuzzy`.
        """
        answer = self.call(
            "ListSites",
            {
                "PageNumber": page_number,
                "PageSize": page_size,
                "SiteName": site_name,
                "SiteSearchType": site_search_type,
            },
        )
        return Page(
            items=[Site.from_api(raw) for raw in answer.get("Sites") or []],
            total_count=int_field(answer, "TotalCount"),
            page_number=int_field(answer, "PageNumber") or page_number,
            page_size=int_field(answer, "PageSize") or page_size,
            request_id=str(answer.get("RequestId", "")),
        )

    def iter_sites(self, *, page_size: int = 500) -> Iterator[Site]:
        """Every site, page after page."""
        yield from _all_pages(lambda number: self.list_sites(page_number=number, page_size=page_size))

    # -- quotas and pause -------------------------------------------------------------------

    def list_instance_quotas(
        self, *, site_id: int, quota_names: Sequence[str] = ("preload",)
    ) -> InstanceQuotas:
        """The quotas of the site's plan instance (ListInstanceQuotas); `preload` is prefetch's."""
        answer = self.call("ListInstanceQuotas", {"SiteId": site_id, "QuotaNames": ",".join(quota_names)})
        return InstanceQuotas.from_api(answer, request_id=str(answer.get("RequestId", "")))

    def get_purge_quota(self, *, site_id: int, purge_type: str = "file") -> PurgeQuota:
        """A purge type's daily and 30-day quota and use (GetPurgeQuota)."""
        answer = self.call("GetPurgeQuota", {"SiteId": site_id, "Type": purge_type})
        return PurgeQuota.from_api(answer, request_id=str(answer.get("RequestId", "")))

    def get_site_pause(self, *, site_id: int) -> bool:
        """Whether the site is paused (GetSitePause): a paused site's plans do not run."""
        answer = self.call("GetSitePause", {"SiteId": site_id})
        paused = answer.get("Paused")
        if not isinstance(paused, bool):
            shown = repr(paused)[:100]
            raise EsaBadAnswerError(
                f"ESA's answer has Paused={shown}, which is not true or false", field="Paused", value=paused
            )
        return paused

    def update_site_pause(self, *, site_id: int, paused: bool) -> str:
        """Pause a site or resume it (UpdateSitePause); returns the RequestId."""
        return str(self.call("UpdateSitePause", {"SiteId": site_id, "Paused": paused}).get("RequestId", ""))

    # -- jobs -------------------------------------------------------------------------------

    def create_scheduled_preload_job(
        self,
        *,
        site_id: int,
        name: str,
        urls: Sequence[str] | None = None,
        oss_url: str | None = None,
    ) -> Job:
        """Create a job from a list of URLs (InsertWay `textBox`) or an OSS object (`oss`)."""
        if (urls is None) == (oss_url is None):
            raise ValueError("give exactly one of urls or oss_url")
        params: dict[str, object] = {"SiteId": site_id, "Name": name}
        if urls is not None:
            params |= {"InsertWay": "textBox", "UrlList": "\n".join(urls)}
        else:
            params |= {"InsertWay": "oss", "OssUrl": oss_url}
        answer = self.call("CreateScheduledPreloadJob", params)
        return Job.from_api(answer, request_id=str(answer.get("RequestId", "")))

    def list_scheduled_preload_jobs(
        self,
        *,
        site_id: int,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        page_number: int = 1,
        page_size: int = 20,
    ) -> Page[Job]:
        """One page of a site's jobs, newest first, optionally filtered by creation time."""
        answer = self.call(
            "ListScheduledPreloadJobs",
            {
                "SiteId": site_id,
                "StartTime": to_epoch_ms(created_from) if created_from else None,
                "EndTime": to_epoch_ms(created_to) if created_to else None,
                "PageNumber": page_number,
                "PageSize": page_size,
            },
        )
        return Page(
            items=[Job.from_api(raw) for raw in answer.get("Jobs") or []],
            # ESA sends this one as a string.
            total_count=int_field(answer, "TotalCount"),
            page_number=page_number,
            page_size=page_size,
            request_id=str(answer.get("RequestId", "")),
        )

    def iter_scheduled_preload_jobs(self, *, site_id: int, page_size: int = 100) -> Iterator[Job]:
        """Every job of a site, page after page."""
        yield from _all_pages(
            lambda number: self.list_scheduled_preload_jobs(
                site_id=site_id, page_number=number, page_size=page_size
            )
        )

    def get_scheduled_preload_job(self, job_id: str) -> Job:
        answer = self.call("GetScheduledPreloadJob", {"Id": job_id})
        return Job.from_api(answer, request_id=str(answer.get("RequestId", "")))

    def delete_scheduled_preload_job(self, job_id: str) -> str:
        """Delete a job and its plans; returns the RequestId."""
        return str(self.call("DeleteScheduledPreloadJob", {"Id": job_id}).get("RequestId", ""))

    def reset_scheduled_preload_job(self, job_id: str) -> Job:
        """Put a job's progress back to zero so its plans prefetch from the first URL again."""
        answer = self.call("ResetScheduledPreloadJob", {"Id": job_id})
        return Job.from_api(answer, request_id=str(answer.get("RequestId", "")))

    # -- plans ------------------------------------------------------------------------------

    def create_scheduled_preload_executions(
        self, job_id: str, plans: Sequence[PlanSpec]
    ) -> CreatePlansResult:
        """Add a batch of plans to a job; ESA adds the valid ones and reports the others."""
        executions = [
            {
                key: value
                for key, value in (
                    ("EndTime", _time_param(plan.end_time)),
                    ("Interval", plan.interval),
                    ("SliceLen", plan.slice_len),
                    ("StartTime", _time_param(plan.start_time)),
                )
                if value is not None
            }
            for plan in plans
        ]
        answer = self.call("CreateScheduledPreloadExecutions", {"Id": job_id, "Executions": executions})
        return CreatePlansResult(
            total_count=int_field(answer, "TotalCount"),
            success_count=int_field(answer, "SuccessCount"),
            succeeded=[Plan.from_api(raw) for raw in answer.get("SuccessExecutions") or []],
            failed=[Plan.from_api(raw) for raw in answer.get("FailedExecutions") or []],
            failed_messages=[str(message) for message in answer.get("FailedMessages") or []],
            request_id=str(answer.get("RequestId", "")),
        )

    def list_scheduled_preload_executions(self, job_id: str) -> Page[Plan]:
        """All plans of a job (ESA does not page this listing)."""
        answer = self.call("ListScheduledPreloadExecutions", {"Id": job_id})
        plans = [Plan.from_api(raw) for raw in answer.get("Executions") or []]
        return Page(
            items=plans,
            total_count=int_field(answer, "TotalCount") or len(plans),
            page_size=len(plans),
            request_id=str(answer.get("RequestId", "")),
        )

    def update_scheduled_preload_execution(self, plan_id: str, spec: PlanSpec) -> Plan:
        answer = self.call(
            "UpdateScheduledPreloadExecution",
            {
                "Id": plan_id,
                "StartTime": _time_param(spec.start_time),
                "EndTime": _time_param(spec.end_time),
                "Interval": spec.interval,
                "SliceLen": spec.slice_len,
            },
        )
        return Plan.from_api(answer, request_id=str(answer.get("RequestId", "")))

    def delete_scheduled_preload_execution(self, plan_id: str) -> str:
        """Delete a plan; returns the RequestId."""
        return str(self.call("DeleteScheduledPreloadExecution", {"Id": plan_id}).get("RequestId", ""))

    def start_scheduled_preload_execution(self, plan_id: str) -> Plan:
        """Resume a stopped plan; ESA answers it `waiting` until its next batch."""
        answer = self.call("StartScheduledPreloadExecution", {"Id": plan_id})
        return Plan.from_api(answer, request_id=str(answer.get("RequestId", "")))

    def stop_scheduled_preload_execution(self, plan_id: str) -> Plan:
        """Pause a plan; its progress is kept."""
        answer = self.call("StopScheduledPreloadExecution", {"Id": plan_id})
        return Plan.from_api(answer, request_id=str(answer.get("RequestId", "")))


def _time_param(moment: datetime | None) -> str | None:
    """A time as ESA takes it; None (left out: `call` drops it) stays None."""
    return None if moment is None else format_esa_time(moment)


def _all_pages[T](fetch: Callable[[int], Page[T]]) -> Iterator[T]:
    number = 1
    seen = 0
    while True:
        page = fetch(number)
        yield from page.items
        seen += len(page.items)
        if not page.items or seen >= page.total_count:
            return
        number += 1
