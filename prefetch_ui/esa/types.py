"""Typed results of the ESA scheduled-prefetch actions.

Field names follow ESA's (snake_case); times are aware UTC datetimes. Each result built from a
single-object answer carries that answer's `request_id` (empty for items of a list).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .times import parse_esa_time

__all__ = ["CreatePlansResult", "Job", "Page", "Plan", "PlanSpec", "PlanStatus", "Site"]

PlanStatus = Literal["waiting", "running", "finished", "failed", "stopped"]


def _int(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key)
    if value in (None, ""):
        return 0
    return int(value)


def _str(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    # ESA's own example answers a job Id with a trailing newline; ids are never padded.
    return "" if value is None else str(value).strip()


def _time(raw: Mapping[str, Any], key: str) -> datetime | None:
    value = raw.get(key)
    if value in (None, ""):
        return None
    return parse_esa_time(value)


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
            site_id=_int(raw, "SiteId"),
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
            site_id=_int(raw, "SiteId"),
            name=_str(raw, "Name"),
            insert_way=_str(raw, "InsertWay"),
            task_type=_str(raw, "TaskType"),
            url_count=_int(raw, "UrlCount"),
            url_submitted=_int(raw, "UrlSubmitted"),
            task_submitted=_int(raw, "TaskSubmitted"),
            domains=_str(raw, "Domains"),
            error_info=_str(raw, "ErrorInfo"),
            file_id=_str(raw, "FileId"),
            failed_file_oss=_str(raw, "FailedFileOss"),
            created_at=_time(raw, "CreatedAt"),
            ali_uid=_str(raw, "AliUid"),
            execution_count=_int(raw, "ExecutionCount") if "ExecutionCount" in raw else None,
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
            interval=_int(raw, "Interval"),
            slice_len=_int(raw, "SliceLen"),
            status=_str(raw, "Status"),
            ali_uid=_str(raw, "AliUid"),
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """One plan to create or the new values of one plan to update."""

    start_time: datetime
    end_time: datetime
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
