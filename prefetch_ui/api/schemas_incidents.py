"""The shapes of /api/v1/incidents: what an incident is, a hold and a resume asked for, and the
resume's preview, in the words of the incident pages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import AwareDatetime, field_validator

from prefetch_ui.incidents.forms import CAP_MAX, PACE_AS_IT_WAS, REASON_MAX_LENGTH
from prefetch_ui.web.request_ids import ID_MAX_DIGITS, id_number

from .schemas import PageOut, PageQuery

IncidentStatusFilter = Literal["holding", "held", "resuming", "resumed"]
SITE_ID_MAX = 10**ID_MAX_DIGITS - 1


def _reason(reason: str) -> str:
    # PostgreSQL refuses a NUL in a string (a 500 there); the pages' forms refuse it too.
    if "\x00" in reason:
        raise ValueError("a reason holds no NUL character")
    return reason


class IncidentListQuery(PageQuery):
    status: IncidentStatusFilter | None = Field(None, description="Only the incidents in this status.")
    site: int | None = Field(
        None,
        ge=1,
        le=SITE_ID_MAX,
        description="Only the incidents that held this site (ESA's site id): its own, and those of "
        "every site.",
    )


class IncidentOut(Schema):
    id: int
    site_id: int | None = Field(description="ESA's id of the site held; null: every site.")
    scope: str = Field(description='The site\'s name, or "every site".')
    status: str = Field(description="holding, held, resuming or resumed.")
    phase: str = Field(description='"hold" until a resume is asked for, then "resume".')
    reason: str
    held_by: str = Field(
        description='Who held: a user name, "token NAME of USER" or "alert NAME via receiver R".'
    )
    held_at: datetime
    hold_done_at: datetime | None = Field(description="When the last plan of the hold was held.")
    resumed_by: str | None = Field(description="Who asked for the resume, as `held_by`; null: not yet.")
    resume_requested_at: datetime | None
    resumed_at: datetime | None
    resume_reason: str
    resume_caps: dict[str, int] = Field(
        description="The resume's ramp: URLs a minute per site (ESA id); empty: put back as it was."
    )
    plan_total: int = Field(description="Plans the incident touched.")
    plan_failed: int = Field(description="Of those, plans whose step failed (in the current phase).")


class IncidentPageOut(PageOut):
    items: list[IncidentOut]


class ProgressOut(Schema):
    phase: str
    total: int = Field(description="Steps of this phase: one per plan.")
    settled: int = Field(description="Done or failed.")
    unsettled: int = Field(description="Still to do, or under way.")
    failed: int
    outcomes: dict[str, int] = Field(
        description="Plans by what the phase did to them: for a hold stopped, parked, already_finished, "
        "already_stopped, gone, refused; for a resume started, restored, rescheduled, left_alone, "
        "passed, gone, refused."
    )
    found_by_sync: int = Field(
        description="Plans created or started elsewhere during the hold, held by the sync."
    )
    reholds: int = Field(description="Plans held again after they started elsewhere during the hold.")
    passed_in: int = Field(description="Plans passed on by another incident's resume.")


class FailedStepOut(Schema):
    plan_id: str = Field(description="ESA's plan id.")
    job_id: str
    site_id: int
    label: str
    attempts: int
    error_code: str = Field(description="ESA's error code.")
    error_message: str
    request_id: str = Field(description="ESA's RequestId of the call that failed.")


class IncidentDetailOut(IncidentOut):
    working: bool = Field(description="A hold or resume is under way.")
    workers: int | None = Field(
        description="While working: the worker processes on the incidents queue (0: nothing moves "
        "until one starts); null when not working or when Redis cannot say."
    )
    progress: ProgressOut
    failures: list[FailedStepOut] = Field(description="The failed steps (the first 100, as the page shows).")


class HoldIn(Schema):
    site_id: int | None = Field(
        ..., ge=1, le=SITE_ID_MAX, strict=True, description="ESA's id of the site to hold; null: every site."
    )
    reason: str = Field(
        "", max_length=REASON_MAX_LENGTH, description="Shown on the incident and in the banner."
    )

    _no_nul = field_validator("reason")(_reason)


class HoldOut(Schema):
    created: bool = Field(
        description="A new incident (201); false: the scope was held already and this joined it (200)."
    )
    incident: IncidentDetailOut


class ResumeIn(Schema):
    reschedule: bool = Field(
        True, description="Reschedule plans whose window ended during the hold, from now at the same rate."
    )
    pace: Literal["ramp", "as_it_was"] = Field(
        "ramp",
        description="ramp: at most the cap per site (plans staggered by whole minutes); as_it_was: every "
        "plan put back at once.",
    )
    caps: dict[str, int] = Field(
        default_factory=dict,
        description=f"For a ramp: URLs a minute per site, by ESA's site id (1 to {CAP_MAX:,}); a site not "
        "named gets its default (the preview's `default_cap`).",
    )
    reason: str = Field(
        "", max_length=REASON_MAX_LENGTH, description="Shown on the incident and in the audit log."
    )
    shown_at: AwareDatetime | None = Field(
        None,
        description="The preview's `laid_out_at`: its ramp is sent as shown while it still starts ahead of "
        "its calls, else it is laid out again from now with the same caps.",
    )

    _no_nul = field_validator("reason")(_reason)

    @field_validator("caps", mode="before")
    @classmethod
    def caps_named_by_site(cls, caps: Any) -> Any:
        if not isinstance(caps, dict):
            return caps  # pydantic says it is no object
        for site, cap in caps.items():
            if id_number(str(site)) is None:
                raise ValueError(f"“{str(site)[:40]}” names no site: caps are keyed by ESA's site id")
            if type(cap) is not int or not 1 <= cap <= CAP_MAX:
                raise ValueError(
                    f"the cap of site {site} is not a whole number of URLs a minute from 1 to {CAP_MAX:,}"
                )
        return caps

    @property
    def ramp_caps(self) -> dict[int, int] | None:
        """The caps as the resume services take them; None: as it was."""
        if self.pace == PACE_AS_IT_WAS:
            return None
        return {int(site): cap for site, cap in self.caps.items()}


class LoadPeakOut(Schema):
    at: datetime = Field(description="The busiest minute.")
    urls: int = Field(description="URLs sent in it.")


class QuotaDayOut(Schema):
    day: date = Field(description="A quota day the plans send on: its date in the quota's time zone.")
    quota: int = Field(description="The site's daily prefetch quota, in URLs.")
    sends: int = Field(description="URLs the plans add to the day.")
    left: int = Field(description="What the quota has left that day at the current schedule, before them.")
    refused: int = Field(description="URLs ESA would refuse that day because of them (0: they fit).")
    runs_out_at: datetime | None = Field(description="When the first URL of the day would be refused.")


class SiteQuotaOut(Schema):
    state: str = Field(
        description="unknown (the quota not read yet), not_running (the site paused or not active), "
        "within or exceeded."
    )
    time_zone: str = Field(description="The quota's time zone: its midnight renews the quota.")
    days: list[QuotaDayOut]
    warnings: list[str] = Field(
        description="As the resume page warns: `quota_exceeded`, `site_paused`, `site_not_active`."
    )


class SiteLoadOut(Schema):
    site_id: int
    site_name: str
    plans: int = Field(description="Plans the resume puts back on this site.")
    before: LoadPeakOut | None = Field(description="The busiest minute scheduled before the hold.")
    as_it_was: LoadPeakOut | None = Field(description="The busiest minute if every plan is put back at once.")
    default_cap: int = Field(
        description="The cap offered: the peak before the hold, or the least a ramp keeps."
    )
    least_cap: int = Field(description="No ramp keeps a cap below this: one plan alone sends this much.")
    cap: int | None = Field(description="The ramp's cap; null: as it was.")
    ramped: LoadPeakOut | None = Field(description="The busiest minute under the ramp.")
    last_start: datetime | None = Field(description="When the last plan the ramp delays starts.")
    error: str = Field(description="Why the ramp cannot keep `cap` (then nothing can be resumed with it).")
    quota: SiteQuotaOut | None = Field(
        None, description="What the site's daily prefetch quota makes of the plans put back."
    )


class ResumePlanOut(Schema):
    plan_id: str
    job_id: str
    label: str
    action: str = Field(description="start, restore, reschedule, leave or pass.")
    note: str
    window_ended: bool = Field(description="Its window ended during the hold.")
    original_start: datetime | None
    original_end: datetime | None
    ramp_start: datetime | None = Field(description="The window the ramp gives it; null: its own.")
    ramp_end: datetime | None
    stays_with: int | None = Field(description="pass: the incident that goes on holding it.")


class ResumeCountsOut(Schema):
    start: int = Field(description="Stopped by the hold: started again.")
    restore: int = Field(description="Parked by the hold: their original window back.")
    reschedule: int = Field(description="Window ended during the hold: rescheduled from now.")
    leave: int = Field(description="Changed or deleted by someone else meanwhile: left alone.")
    stays_held: int = Field(description="Another active hold still covers their site: they stay held by it.")
    windows_ended: int = Field(description="Windows that ended during the hold, in all.")
    not_held: int = Field(description="Finished, deleted or not held during the hold: nothing to put back.")
    to_send: int = Field(description="Plans whose resume makes ESA calls.")


class StaysHeldOut(Schema):
    incident_id: int
    scope: str
    plans: int


class ResumePreviewOut(Schema):
    incident_id: int
    incident_status: str = Field(description="Only a held incident can be resumed.")
    reschedule: bool
    pace: str
    laid_out_at: datetime | None = Field(
        description="Send it back as `shown_at` to resume this ramp as shown."
    )
    counts: ResumeCountsOut
    stays_held: list[StaysHeldOut]
    loads: list[SiteLoadOut] = Field(description="What each site's origin takes, in URLs a minute.")
    errors: list[str] = Field(
        description="Caps no ramp keeps, each naming its site: a resume with them is refused."
    )
    plans: list[ResumePlanOut]


class ResumeOut(ResumePreviewOut):
    incident: IncidentDetailOut


class RetryOut(Schema):
    sent_again: int = Field(description="Failed plans sent to the workers again.")
    incident: IncidentDetailOut


class HeldPlanOut(Schema):
    plan_id: str
    job_id: str
    site_id: int
    label: str
    found_by: str = Field(description="hold, sync or passed.")
    original_status: str
    original_start: datetime | None
    original_end: datetime | None
    hold_action: str = Field(description="stop or park.")
    hold_outcome: str
    resume_action: str
    resume_outcome: str
    state: str = Field(description="The step of the current phase: pending, claimed, done or failed.")
    attempts: int
    error_code: str
    request_id: str


class HeldPlanPageOut(PageOut):
    items: list[HeldPlanOut]
