"""What travels on the simulated wire: ESA's error answers, and the parameters and values as ESA
spells them (24-hex object ids, integers, its two shapes of time)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "ALI_UID",
    "Answer",
    "SimError",
    "id_param",
    "int_param",
    "invalid",
    "iso_china_ms",
    "iso_z",
    "missing",
    "not_found_job",
    "not_found_plan",
    "object_id",
]

ALI_UID = "1568586500014622"
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_CHINA = timezone(timedelta(hours=8))
Answer = dict[str, Any]


class SimError(Exception):
    """An ESA error answer."""

    def __init__(self, status: int, code: str, message: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms


def not_found_job() -> SimError:
    return SimError(
        404,
        "InvalidJob.NotFound",
        "The task does not exist. Check whether the task ID is correct or whether the task has been deleted.",
    )


def not_found_plan() -> SimError:
    return SimError(
        404,
        "InvalidExecution.NotFound",
        "The execution plan does not exist. Check whether the parameters such as the execution ID, "
        "start time, and end time are correct.",
    )


def missing(name: str) -> SimError:
    return SimError(
        400,
        "MissingParameter",
        f"The input parameter {name} that is mandatory for processing this request is not supplied.",
    )


def invalid(name: str, why: str = "") -> SimError:
    return SimError(
        400, "InvalidParameter", f"The specified parameter {name} is not valid.{' ' + why if why else ''}"
    )


def object_id(clock_now: float) -> str:
    """A 24-hex id shaped like ESA's (a MongoDB ObjectId: seconds, then random bytes)."""
    return f"{int(clock_now) & 0xFFFFFFFF:08x}{os.urandom(8).hex()}"


def iso_z(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_china_ms(seconds: float) -> str:
    """The `2024-05-31T17:10:48.849+08:00` shape ESA uses in Start/Stop/Update answers."""
    moment = datetime.fromtimestamp(seconds, _CHINA)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+08:00"


def id_param(params: Mapping[str, str]) -> str:
    value = params.get("Id", "").strip()
    if not _OBJECT_ID.match(value):
        raise SimError(400, "InvalidParameter.ObjectId", "Invalid task ID or execution plan ID.")
    return value


def int_param(params: Mapping[str, str], name: str, *, default: int | None = None) -> int:
    raw = params.get(name, "").strip()
    if raw == "":
        if default is None:
            raise missing(name)
        return default
    try:
        return int(raw)
    except ValueError:
        raise invalid(name) from None
