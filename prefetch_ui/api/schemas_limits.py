"""The shapes of /api/v1/limits: a site's limits in the words of the limits pages."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema


class PrefetchQuotaOut(Schema):
    quota: int = Field(description="URLs a day (ListInstanceQuotas, `preload`).")
    used: int = Field(description="URLs charged today as the sync counted them (TaskSubmitted's growth).")
    left: int
    counted_since: datetime = Field(description="The count is complete from here: the day's start, or later.")
    complete: bool = Field(description="Whether the count covers the whole quota day so far.")
    day_start: datetime = Field(description="Midnight in PREFETCH_ESA_QUOTA_TIME_ZONE.")
    day_end: datetime
    scheduled: int = Field(description="URLs the plans will send from now until the day's end.")
    runs_out_at: datetime | None = Field(description="The batch at which the first URL will be refused.")
    refused: int = Field(description="URLs that will be refused today at this schedule.")


class PurgeQuotaOut(Schema):
    quota: int
    used: int
    quota_30day: int = Field(description="0: not configured.")
    used_30day: int


class SiteLimitsOut(Schema):
    site_id: int
    site_name: str
    status: str = Field(description="ESA's site status: plans run only on `active` sites.")
    paused: bool | None = Field(description="GetSitePause; null until read.")
    runs: bool = Field(description="Whether ESA runs the site's plans now: active and not paused.")
    instance_id: str
    instance_status: str
    job_count: int
    read_at: datetime | None
    read_error: str = Field(description="ESA's refusal of the last read of the limits, if any.")
    prefetch_quota: PrefetchQuotaOut | None = Field(description="null until the quota is read.")
    purge_quota: PurgeQuotaOut | None = Field(description="Purges by URL (GetPurgeQuota `file`).")
