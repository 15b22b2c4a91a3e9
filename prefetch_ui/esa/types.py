"""Typed results of the ESA scheduled-prefetch actions.

Field names follow ESA's (snake_case); times are aware UTC datetimes. Each result built from a
single-object answer carries that answer's `request_id` (empty for items of a list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .errors import EsaBadAnswerError
from .times import EsaTimeError, parse_esa_time

__all__ = [
    "CreatePlansResult",
    "InstanceQuota",
    "InstanceQuotas",
    "Job",
    "Page",
    "Plan",
    "PlanSpec",
    "PlanStatus",
    "PurgeQuota",
    "Site",
    "int_field",
]

_SHOWN_VALUE_CHARS = 100

PlanStatus = Literal["waiting", "running", "finished", "failed", "stopped"]


def int_field(raw: Mapping[str, Any], key: str) -> int:
    """A whole number of ESA's answer (0 when absent); one that is not a number is a bad answer."""
    value = raw.get(key)
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad_answer(key, value, "is not a whole number") from None


def _bad_answer(key: str, value: object, why: str) -> EsaBadAnswerError:
    shown = repr(value)[:_SHOWN_VALUE_CHARS]
    return EsaBadAnswerError(f"ESA's answer has {key}={shown}, which {why}", field=key, value=value)


def _str(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    # ESA's own example answers a job Id with a trailing newline; ids are never padded.
    return "" if value is None else str(value).strip()


def _time(raw: Mapping[str, Any], key: str) -> datetime | None:
    value = raw.get(key)
    if value in (None, ""):
        return None
    try:
        return parse_esa_time(value)
    except EsaTimeError as error:
        raise _bad_answer(key, value, f"is a time the client cannot read ({error})") from None


@dataclass(frozen=True, slots=True)
class Site:
    """An ESA site (a zone); `site_name` is its domain."""

    site_id: int
    site_name: str
    status: str = ""
    access_type: str = ""
    coverage: str = ""
    plan_name: str = ""
    created_at: datetime | None = None

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> Site:
        return cls(
            site_id=int_field(raw, "SiteId"),
            site_name=_str(raw, "SiteName"),
            status=_str(raw, "Status"),
            access_type=_str(raw, "AccessType"),
            coverage=_str(raw, "Coverage"),
            plan_name=_str(raw, "PlanName"),
            created_at=_time(raw, "CreateTime"),
        )


@dataclass(frozen=True, slots=True)
class Job:
    """A scheduled prefetch job: a list of URLs for one site, and its progress."""

    id: str
    site_id: int
    name: str
    insert_way: str = ""
    task_type: str = ""
    url_count: int = 0
    url_submitted: int = 0
    task_submitted: int = 0
    domains: str = ""
    error_info: str = ""
    file_id: str = ""
    failed_file_oss: str = ""
    created_at: datetime | None = None
    ali_uid: str = ""
    execution_count: int | None = None
    request_id: str = ""

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, request_id: str = "") -> Job:
        return cls(
            id=_str(raw, "Id"),
            site_id=int_field(raw, "SiteId"),
            name=_str(raw, "Name"),
            insert_way=_str(raw, "InsertWay"),
            task_type=_str(raw, "TaskType"),
            url_count=int_field(raw, "UrlCount"),
            url_submitted=int_field(raw, "UrlSubmitted"),
            task_submitted=int_field(raw, "TaskSubmitted"),
            domains=_str(raw, "Domains"),
            error_info=_str(raw, "ErrorInfo"),
            file_id=_str(raw, "FileId"),
            failed_file_oss=_str(raw, "FailedFileOss"),
            created_at=_time(raw, "CreatedAt"),
            ali_uid=_str(raw, "AliUid"),
            execution_count=int_field(raw, "ExecutionCount") if "ExecutionCount" in raw else None,
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """An execution plan of a job: `slice_len` URLs every `interval` seconds in a time window."""

    id: str
    job_id: str
    start_time: datetime | None
    end_time: datetime | None
    interval: int
    slice_len: int
    status: str
    ali_uid: str = ""
    request_id: str = ""

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, request_id: str = "") -> Plan:
        return cls(
            id=_str(raw, "Id"),
            job_id=_str(raw, "JobId"),
            start_time=_time(raw, "StartTime"),
            end_time=_time(raw, "EndTime"),
            interval=int_field(raw, "Interval"),
            slice_len=int_field(raw, "SliceLen"),
            status=_str(raw, "Status"),
            ali_uid=_str(raw, "AliUid"),
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """One plan to create or the new values of one plan to update.

    A time left out (None) is not sent: ESA's CreateScheduledPreloadExecutions takes both as
    optional (no start: now; no end: until the job's URLs are sent, docs/esa-api.md#create-plans),
    and an update without one keeps the plan's own.
    """

    start_time: datetime | None
    end_time: datetime | None
    interval: int
    slice_len: int


@dataclass(frozen=True, slots=True)
class Page[T]:
    """One page of a listing, with ESA's total across all pages."""

    items: list[T]
    total_count: int
    page_number: int = 1
    page_size: int = 0
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class CreatePlansResult:
    """The answer to a batch of plans: ESA adds the good ones even when some are refused."""

    total_count: int
    success_count: int
    succeeded: list[Plan] = field(default_factory=list)
    failed: list[Plan] = field(default_factory=list)
    failed_messages: list[str] = field(default_factory=list)
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class InstanceQuota:
    """One quota of a plan instance (ListInstanceQuotas): `preload` is the prefetch quota a day."""

    name: str
    value: str  # as ESA sends it: a number for `num` quotas, else an enumeration or a range
    value_type: str = ""  # num, bool, value, range or custom

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> InstanceQuota:
        return cls(
            name=_str(raw, "QuotaName"), value=_str(raw, "QuotaValue"), value_type=_str(raw, "QuotaValueType")
        )

    @property
    def number(self) -> int:
        """The value of a `num` quota as a number (a value that is not one is a bad answer)."""
        return int_field({"QuotaValue": self.value}, "QuotaValue")


@dataclass(frozen=True, slots=True)
class InstanceQuotas:
    """The quotas of a site's plan instance (its subscription), and the instance's status."""

    instance_id: str
    status: str  # online, offline or disable
    quotas: list[InstanceQuota] = field(default_factory=list)
    request_id: str = ""

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, request_id: str = "") -> InstanceQuotas:
        return cls(
            instance_id=_str(raw, "InstanceId"),
            status=_str(raw, "Status"),
            quotas=[InstanceQuota.from_api(item) for item in raw.get("Quotas") or []],
            request_id=request_id,
        )

    def get(self, name: str) -> InstanceQuota | None:
        return next((quota for quota in self.quotas if quota.name == name), None)


@dataclass(frozen=True, slots=True)
class PurgeQuota:
    """A purge type's quota (GetPurgeQuota): daily, and over 30 days (0: not configured)."""

    quota: int
    usage: int
    quota_30day: int
    usage_30day: int
    request_id: str = ""

    @classmethod
    def from_api(cls, raw: Mapping[str, Any], *, request_id: str = "") -> PurgeQuota:
        # ESA sends these numbers as strings.
        return cls(
            quota=int_field(raw, "Quota"),
            usage=int_field(raw, "Usage"),
            quota_30day=int_field(raw, "Quota30Day"),
            usage_30day=int_field(raw, "Usage30Day"),
            request_id=request_id,
        )
