"""The shapes the API answers with, as its OpenAPI schema names them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import field_validator

# What a job's plans can be filtered by: ESA's statuses, and held (an open incident holds the plan),
# as on the job page (`prefetch.selectors.statuses.COUNTED_STATUSES`; a test keeps them the same).
PlanStatusFilter = Literal["waiting", "running", "finished", "failed", "stopped", "held"]
PER_PAGE_MAX = 200
SITE_IDLE = (
    'Why ESA runs none of the site\'s plans now, as the sync last read it: "paused" (paused in ESA), '
    'the site\'s status when it is not active (ESA starts plans only on active sites), or "".'
)


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=1_000_000_000, description="From 1.")
    per_page: int = Field(50, ge=1, le=PER_PAGE_MAX)


class SiteJobsQuery(PageQuery):
    name: str = Field("", max_length=255, description="Jobs whose name contains this (any case).")

    @field_validator("name")
    @classmethod
    def name_without_nul(cls, name: str) -> str:
        # No job name holds one, and PostgreSQL refuses it in a query (a 500 there, not a filter).
        if "\x00" in name:
            raise ValueError("a name holds no NUL character")
        return name


class JobPlansQuery(PageQuery):
    status: PlanStatusFilter | None = Field(None, description="Only the plans of this status.")


class PageOut(Schema):
    page: int
    per_page: int
    total: int = Field(description="Items on every page together.")
    pages: int


class SiteOut(Schema):
    id: int = Field(description="ESA's site id.")
    name: str
    status: str
    plan_name: str
    coverage: str
    access_type: str
    job_count: int
    plan_counts: dict[str, int] = Field(description="Plans by status; held ones apart, as `held`.")
    synced_at: datetime
    sync_error: str


class JobOut(Schema):
    id: str = Field(description="ESA's job id.")
    site_id: int
    name: str
    insert_way: str
    task_type: str
    url_count: int
    url_submitted: int
    state: str = Field(description="running, waiting, held, failed, done or unsent.")
    unsent: int = Field(description="URLs no plan of the job will submit any more.")
    plan_counts: dict[str, int]
    created_at: datetime | None
    synced_at: datetime


class EstimateOut(Schema):
    estimate: str = Field(
        description='"held", "done", "idle" (ESA runs none of its site\'s plans now: `site_idle` says why), '
        '"finishes" or "will not finish".'
    )
    site_idle: str = Field(description=SITE_IDLE)
    remaining: int = Field(description="URLs ESA has not submitted yet.")
    finishes_at: datetime | None = Field(description="When the last remaining URL goes out, if they all do.")
    unscheduled: int = Field(description="Remaining URLs no plan will submit.")
    open_plans: int = Field(description="Plans that will still send.")
    held_by_incident: int | None = Field(description="The incident holding the job's site, if any.")


class JobDetailOut(JobOut):
    estimate: EstimateOut


class PlanOut(Schema):
    id: str = Field(description="ESA's plan id.")
    job_id: str
    status: str = Field(description="ESA's status.")
    held_by_incident: int | None = Field(description="The open incident holding the plan, if any.")
    start_time: datetime | None
    end_time: datetime | None
    interval: int = Field(description="Seconds between batches.")
    slice_len: int = Field(description="URLs per batch.")
    synced_at: datetime


class OperationOut(Schema):
    id: int
    kind: str
    status: str
    target_id: str = Field(description="The ESA id of the job or plan acted on.")
    target_label: str
    plan_id: str | None
    requested_by: str | None = Field(
        description='Who asked for it: a user name, or "token NAME of USER" for an API call.'
    )
    attempts: int
    error_code: str = Field(description="ESA's error code, where ESA refused.")
    error_message: str
    request_id: str = Field(description="ESA's RequestId of the last call.")
    created_at: datetime
    finished_at: datetime | None


class JobPageOut(PageOut):
    items: list[JobOut]


class PlanPageOut(PageOut):
    items: list[PlanOut]


class OperationPageOut(PageOut):
    items: list[OperationOut]
