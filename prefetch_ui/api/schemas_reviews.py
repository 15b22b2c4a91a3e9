"""The shapes of the leads' views in /api/v1/: the audit log, the overview's outlook and the origin
load forecast, in the words of their pages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema
from pydantic import AwareDatetime

from prefetch_ui.reviews.selectors.audit import AUDIT_KINDS, AUDIT_RESULTS

from .schemas import SITE_IDLE, PageOut, PageQuery
from .schemas_incidents import SITE_ID_MAX

FORECAST_HOURS_DEFAULT = 18  # the timeline's default window ends 18 h from now
FORECAST_DAYS_MAX = 7  # the timeline shows at most a week


class AuditQuery(PageQuery):
    """The audit page's filters, by the names its address uses."""

    who: str = Field(
        "", max_length=150, description="A user name: what they did, by hand or through their tokens."
    )
    kind: str = Field("", max_length=40, description=f"One of: {', '.join(AUDIT_KINDS)}.")
    result: str = Field("", max_length=40, description=f"One of: {', '.join(AUDIT_RESULTS)}.")
    site: str = Field(
        "", max_length=40, description="ESA's site id; an incident on every site counts as on each site."
    )
    since: AwareDatetime | None = Field(
        None, description="From: entries at or after (ISO 8601 with an offset)."
    )
    until: AwareDatetime | None = Field(None, description="To: entries before (ISO 8601 with an offset).")


class AuditEntryOut(Schema):
    at: datetime
    who: str = Field(
        description='A user name, "token NAME of USER" or "alert NAME via receiver R"; "": a deleted user.'
    )
    kind: str
    kind_label: str = Field(description="The kind in the page's words.")
    target: str = Field(
        description='What was acted on, as the page names it ("Incident #3: hold of every site").'
    )
    target_id: str = Field(description="The ESA id acted on; empty for creates and incidents.")
    job_id: str = Field(description="The job's ESA id while the job is in the mirror.")
    incident_id: int | None
    operation_id: int | None
    site_id: int | None
    site: str = Field(description='The site\'s name, or "every site" for an incident on every site.')
    result: str = Field(description="running, succeeded or failed (and the operations' other statuses).")
    error_code: str = Field(description="ESA's error code, where a failure has one.")
    error_message: str
    request_id: str = Field(description="ESA's RequestId of the call that failed.")
    failed_plans: int | None = Field(
        description="An incident's plans whose step failed; null for operations."
    )
    changes: str = Field(description="An update of a plan: what it changed (times in UTC, ISO 8601).")
    reason: str = Field(description="An incident's hold or resume: why, as it was said.")


class AuditPageOut(PageOut):
    items: list[AuditEntryOut]


class OverviewQuery(Schema):
    site: int | None = Field(None, ge=1, le=SITE_ID_MAX, description="Only this site (ESA's id).")
    attention: bool = Field(False, description="Only the sites that need attention.")
    sort: Literal["attention", "name"] = Field("attention", description="Needs attention first, or by name.")


class JobEstimateOut(Schema):
    estimate: str = Field(
        description='"held", "done", "idle" (ESA runs none of its site\'s plans now: `site_idle` says why), '
        '"finishes" or "will not finish".'
    )
    site_idle: str = Field(description=SITE_IDLE)
    remaining: int
    finishes_at: datetime | None
    unscheduled: int = Field(description="Remaining URLs no plan will submit.")
    last_plan_ends: datetime | None = Field(
        description="When its last plan ends (said when it will not finish)."
    )


class JobReviewOut(Schema):
    id: str
    name: str
    state: str
    url_count: int
    url_submitted: int
    plan_counts: dict[str, int]
    late_plans: int
    error_info: str = Field(description="ESA's word on a job it refused.")
    flags: list[str] = Field(description="held, failed, late, stalled.")
    estimate: JobEstimateOut


class SiteReviewOut(Schema):
    site_id: int
    name: str
    status: str = Field(description="ESA's status of the site.")
    held_by_incident: int | None
    flags: list[str] = Field(description="held, failed, late, stalled: what needs attention.")
    state: str = Field(description="failed, running, unsent or done.")
    url_count: int
    url_submitted: int
    progress_percent: int
    plan_counts: dict[str, int] = Field(description="Plans by status; held ones apart, as `held`.")
    late_plans: int
    job_count: int
    jobs_in_play: int
    jobs_done: int
    jobs_not_shown: int = Field(description="Jobs in play beyond the 50 listed.")
    estimate: str = Field(
        description='"held", "idle" (paused in ESA, or not active: ESA runs none of its plans now), '
        '"will not finish", "finishes", "nothing scheduled" or "done".'
    )
    finishes_at: datetime | None = Field(
        description="When the jobs listed will have sent every URL that has a plan."
    )
    unscheduled: int = Field(description="URLs of the jobs listed that no plan will submit.")
    jobs: list[JobReviewOut] = Field(description="The jobs in play, needs-attention first.")


class ForecastQuery(Schema):
    site: int | None = Field(None, ge=1, le=SITE_ID_MAX, description="Only this site (ESA's id).")
    until: AwareDatetime | None = Field(
        None,
        description=f"Until when (ISO 8601 with an offset), at most {FORECAST_DAYS_MAX} days ahead; "
        f"default: {FORECAST_HOURS_DEFAULT} hours from now.",
    )


class LoadOut(Schema):
    site_id: int | None = Field(description="ESA's site id; null: every site together.")
    site_name: str
    peak_at: datetime | None = Field(description="The busiest minute.")
    peak: int = Field(description="URLs sent in the busiest minute.")
    total: int = Field(description="URLs sent from now until `until`.")
    urls_per_minute: list[int] = Field(description="From `start`, minute by minute.")


class ForecastOut(Schema):
    start: datetime = Field(description="The minute the series begin at (now's).")
    until: datetime
    sites: list[LoadOut] = Field(description="Each site that will be sent anything, by name.")
    every_site: LoadOut | None = Field(description="Every site together, when two or more are sent anything.")
