"""What the write endpoints take and answer (`v1_operations`), as the OpenAPI schema names them.

Times are ISO 8601 with an offset (`2031-06-01T09:00:00+08:00`), to the second as ESA keeps them;
limits that are settings (ESA's unpublished ranges) are read when a request is checked, so a
deployment's settings apply.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from django.conf import settings
from ninja import Field, Schema
from pydantic import AfterValidator, AwareDatetime, ConfigDict, ValidationInfo, field_validator

from prefetch_ui.prefetch.forms import MAX_ROWS
from prefetch_ui.prefetch.models import Operation, OperationKind

from .schemas import OperationOut

NAME_MAX = 255
# A field the endpoint does not know is refused, naming it: a typo ("intervall") would otherwise be
# dropped without a word, and an edit would change nothing while answering 202.
_STRICT_FIELDS = ConfigDict(extra="forbid")


def _no_control(text: str, what: str) -> str:
    if control := next((char for char in text if unicodedata.category(char) == "Cc"), None):
        raise ValueError(f"{what} contains a control character (U+{ord(control):04X})")
    return text


def _to_the_second(moment: datetime) -> datetime:
    if moment.microsecond:
        raise ValueError("ESA takes times to the second: leave out fractions of a second")
    return moment.astimezone(UTC)


def _within(value: int | None, ceiling: int, what: str) -> int | None:
    if value is not None and value > ceiling:
        raise ValueError(f"{what} must be at most {ceiling}")
    return value


def _url_printable(url: str) -> str:
    return _no_control(url, "the URL")


# One URL: one line, no control character (the list is checked as the page's text box is).
UrlText = Annotated[str, AfterValidator(_url_printable)]


class PlanIn(Schema):
    """One plan: `slice_len` URLs every `interval` seconds from `start_time` to `end_time`."""

    model_config = _STRICT_FIELDS

    start_time: AwareDatetime = Field(description="Not more than a minute ago.")
    end_time: AwareDatetime
    interval: int = Field(ge=1, strict=True, description="Seconds between batches.")
    slice_len: int = Field(ge=1, strict=True, description="URLs per batch.")

    @field_validator("start_time", "end_time")
    @classmethod
    def seconds(cls, moment: datetime) -> datetime:
        return _to_the_second(moment)

    @field_validator("interval")
    @classmethod
    def interval_within(cls, interval: int) -> int | None:
        return _within(interval, settings.PREFETCH_MAX_INTERVAL, "interval")

    @field_validator("slice_len")
    @classmethod
    def slice_len_within(cls, slice_len: int) -> int | None:
        return _within(slice_len, settings.PREFETCH_MAX_SLICE_LEN, "slice_len")

    @field_validator("end_time")
    @classmethod
    def ends_after_it_starts(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start_time")
        if start is not None and end <= start:
            raise ValueError("the end must be after the start")
        return end


class PlansCreateIn(Schema):
    model_config = _STRICT_FIELDS

    plans: list[PlanIn] = Field(min_length=1, max_length=MAX_ROWS, description=f"1 to {MAX_ROWS} plans.")


class PlanEditIn(Schema):
    """What to change; what is left out stays as the plan has it."""

    model_config = _STRICT_FIELDS

    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    interval: int | None = Field(None, ge=1, strict=True)
    slice_len: int | None = Field(None, ge=1, strict=True)

    @field_validator("start_time", "end_time")
    @classmethod
    def seconds(cls, moment: datetime | None) -> datetime | None:
        return _to_the_second(moment) if moment is not None else None

    @field_validator("interval")
    @classmethod
    def interval_within(cls, interval: int | None) -> int | None:
        return _within(interval, settings.PREFETCH_MAX_INTERVAL, "interval")

    @field_validator("slice_len")
    @classmethod
    def slice_len_within(cls, slice_len: int | None) -> int | None:
        return _within(slice_len, settings.PREFETCH_MAX_SLICE_LEN, "slice_len")


class JobCreateIn(Schema):
    """A new job: its name and either `urls` (checked as the new-job page checks them) or `oss_url`."""

    model_config = _STRICT_FIELDS

    name: str = Field(min_length=1, max_length=NAME_MAX)
    urls: list[UrlText] | None = Field(None, min_length=1, description="The URLs, each of the site's domain.")
    oss_url: str | None = Field(
        None, min_length=1, max_length=4096, description="An OSS object listing them."
    )

    @field_validator("name")
    @classmethod
    def name_printable(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("give the job a name")
        return _no_control(name, "the name")

    @field_validator("urls")
    @classmethod
    def urls_within(cls, urls: list[str] | None) -> list[str] | None:
        if urls is not None and len(urls) > settings.PREFETCH_MAX_URLS_PER_JOB:
            raise ValueError(f"a job holds at most {settings.PREFETCH_MAX_URLS_PER_JOB} URLs")
        return urls

    @field_validator("oss_url")
    @classmethod
    def oss_url_printable(cls, oss_url: str | None) -> str | None:
        return _no_control(oss_url, "the OSS URL") if oss_url is not None else None


class OperationDetailOut(OperationOut):
    requested_via: str = Field(description='Who asked when not a person on a page: "token NAME of USER".')
    job_id: str | None = Field(description="The job: for a job create, the job made once ESA has it.")
    esa_code: str | None = Field(description="ESA's error code, when ESA refused.")
    esa_request_id: str | None = Field(description="ESA's RequestId of the last call.")
    plans: list[dict[str, object]] | None = Field(
        description="A batch's plans in the order sent: `status` (created, refused), `plan_id` or "
        "ESA's `message`."
    )


class OperationAcceptedOut(OperationDetailOut):
    joined: bool = Field(
        description="True: the same action on the same target was under way; this joined it."
    )
    warnings: list[str] = Field(
        description="What may keep ESA from acting as asked, each `code: words`: `site_not_active`; for a "
        "batch of plans, `site_paused` and `quota_exceeded` (a quota day on which the site's daily "
        "prefetch quota would refuse URLs, as the plan builder warns)."
    )


def operation_out(operation: Operation) -> dict[str, object]:
    """The operation as the API shows it; ESA's code and RequestId when ESA refused or answered."""
    result = operation.result or {}
    job_id: str | None = operation.job.esa_id if operation.job is not None else None
    job_id = job_id or (str(result["job_esa_id"]) if result.get("job_esa_id") else None)
    plans = None
    if operation.kind == OperationKind.PLANS_CREATE:
        outcomes = result.get("rows", {})
        plans = [
            {"status": "pending", **outcomes.get(str(row["row"]), {})}
            for row in operation.params.get("rows", [])
        ]
    creating = operation.kind in (OperationKind.JOB_CREATE, OperationKind.PLANS_CREATE)
    target = operation.target_esa_id
    if creating:  # a create's key is its form token: name what it creates in
        target = job_id if operation.kind == OperationKind.PLANS_CREATE and job_id else ""
        if operation.kind == OperationKind.JOB_CREATE and operation.site is not None:
            target = str(operation.site.esa_id)
    return {
        "id": operation.pk,
        "kind": operation.kind,
        "status": operation.status,
        "target_id": target,
        "target_label": operation.target_label,
        "plan_id": operation.target_esa_id if operation.plan_id else None,
        "job_id": job_id,
        "requested_by": operation.requested_by.get_username() if operation.requested_by else None,
        "requested_via": operation.requested_via,
        "attempts": operation.attempts,
        "error_code": operation.error_code,
        "error_message": operation.error_message,
        "request_id": operation.request_id,
        "esa_code": operation.error_code or None if operation.request_id else None,
        "esa_request_id": operation.request_id or None,
        "plans": plans,
        "created_at": operation.created_at,
        "finished_at": operation.finished_at,
    }
