"""The mirror of what bounds prefetch on a site (`SiteLimits`): the sync reads its quotas and pause
from ESA now and then, and counts the prefetch quota used today as it reads the site's jobs.

ESA answers a site's daily prefetch quota (ListInstanceQuotas, `preload`) but not how much of it
is used, so the count is ours: each read of the site's jobs adds what their `TaskSubmitted` grew by
since the mirror last had them (the URLs handed to the prefetch system, which is what ESA charges),
into the quota day of the read (docs/limits.md says what that makes exact and what not).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from prefetch_ui.esa import EsaClient, EsaError, EsaThrottledError, EsaTransportError
from prefetch_ui.esa import Job as EsaJob

from ..models import Site, SiteLimits
from .changes import site_running_changed, site_version_next

logger = logging.getLogger(__name__)

# The three calls of one read of a site's limits.
LIMITS_READ_CALLS = 3


def quota_zone() -> ZoneInfo:
    """The time zone whose midnight renews ESA's daily prefetch quota (`PREFETCH_ESA_QUOTA_TIME_ZONE`)."""
    return ZoneInfo(settings.PREFETCH_ESA_QUOTA_TIME_ZONE)


def site_limits_due(*, limits: SiteLimits | None, now: datetime) -> bool:
    """Whether a site's limits are due for a read: never read, or last read (or refused) a period ago."""
    if limits is None:
        return True
    last = max((at for at in (limits.read_at, limits.read_error_at) if at is not None), default=None)
    return last is None or now - last >= timedelta(seconds=settings.PREFETCH_SYNC_LIMITS_PERIOD)


def site_limits_read(*, client: EsaClient, site: Site, now: datetime) -> None:
    """Read the site's prefetch quota, purge quota (by URL) and pause from ESA into its `SiteLimits`.

    Each read stands alone: one ESA refuses (a RAM policy without the action, an action ESA does
    not offer on the site's plan) is kept on the row for the limits view, with the last value it
    read, and the others are written. What says ESA itself is out of reach (a transport error,
    throttling) is raised for the sync to stop its cycle on.
    """
    values: dict[str, Any] = {}
    errors: list[str] = []

    def read(action: str, call: Callable[[], None]) -> None:
        try:
            call()
        except (EsaTransportError, EsaThrottledError):
            raise
        except EsaError as error:
            code = getattr(error, "code", "") or type(error).__name__
            request_id = getattr(error, "request_id", "")
            message = f"{action}: {code}: {getattr(error, 'message', str(error))}"
            errors.append(message + (f" (RequestId {request_id})" if request_id else ""))

    def quotas() -> None:
        answer = client.list_instance_quotas(site_id=site.esa_id, quota_names=("preload",))
        preload = answer.get("preload")
        values.update(
            instance_id=answer.instance_id[:64],
            instance_status=answer.status[:16],
            preload_quota=preload.number if preload is not None else None,
        )

    def purge() -> None:
        answer = client.get_purge_quota(site_id=site.esa_id, purge_type="file")
        values.update(
            purge_quota=answer.quota,
            purge_used=answer.usage,
            purge_quota_30day=answer.quota_30day,
            purge_used_30day=answer.usage_30day,
        )

    def pause() -> None:
        values["paused"] = client.get_site_pause(site_id=site.esa_id)

    read("ListInstanceQuotas", quotas)
    read("GetPurgeQuota", purge)
    read("GetSitePause", pause)
    if errors:
        logger.warning("ESA refused reads of site %s's limits: %s", site.esa_id, "; ".join(errors))
        values.update(read_error="; ".join(errors)[:2000], read_error_at=now)
    else:
        values.update(read_at=now, read_error="", read_error_at=None)
    _limits_write(site=site, values=values)


# What a page shows of the limits: a change of one of these takes a change version, so a page polling
# the site sees it (the read times and the count do not: the count moves with the jobs, which do).
_SHOWN = ("instance_status", "preload_quota", "purge_quota", "purge_quota_30day", "paused", "read_error")


def _limits_write(*, site: Site, values: Mapping[str, Any]) -> None:
    with transaction.atomic():
        limits, _ = SiteLimits.objects.select_for_update().get_or_create(site=site)
        changed = any(field in values and getattr(limits, field) != values[field] for field in _SHOWN)
        paused_before = limits.paused
        for field, value in values.items():
            setattr(limits, field, value)
        limits.save(update_fields=list(values))
        if changed:
            version = site_version_next(site_id=site.pk)
            Site.objects.filter(pk=site.pk).update(version=version)
            if "paused" in values and bool(paused_before) != bool(values["paused"]):
                site_running_changed(site_id=site.pk, version=version)


def preload_charged(*, listed: Iterable[EsaJob], before: Mapping[str, Mapping[str, Any]]) -> tuple[int, int]:
    """What a read of a site's jobs found charged to its prefetch quota since the mirror's rows
    `before`: the growth of known jobs' `TaskSubmitted` (a reset, which sets it back, charges
    nothing), and, apart, the `TaskSubmitted` of jobs the mirror did not know."""
    known = new = 0
    for job in listed:
        row = before.get(job.id)
        if row is None:
            new += job.task_submitted
        else:
            known += max(0, job.task_submitted - int(row["task_submitted"] or 0))
    return known, new


def preload_use_count(*, site: Site, limits: SiteLimits | None, known: int, new: int, now: datetime) -> None:
    """Add what a read of the site's jobs found charged (`preload_charged`) to today's count;
    `limits` is the site's row as the cycle found it (no query when nothing is to be counted).

    A new quota day starts the count afresh, from the day's start when the site's jobs were last
    read recently (what this read found is put on the new day: at most one sync period of
    yesterday's), else from now: what grew over a gap across midnight cannot be split between the
    days. Jobs new to the mirror count once counting has begun (they were created since), not on
    the first read of a site.
    """
    zone = quota_zone()
    day = now.astimezone(zone).date()
    if (
        limits is not None
        and limits.counted_since is not None
        and limits.quota_day == day
        and not known + new
    ):
        return
    day_start = datetime(day.year, day.month, day.day, tzinfo=zone)
    recent = timedelta(seconds=max(60.0, 3 * settings.PREFETCH_SYNC_PERIOD))
    last_read = site.jobs_read_at  # the previous read: this cycle's is written at its end
    with transaction.atomic():
        row, _ = SiteLimits.objects.select_for_update().get_or_create(site=site)
        if row.counted_since is None:  # the first read: nothing before it can be told
            row.preload_used, row.counted_since = 0, now
        elif row.quota_day != day:
            if last_read is not None and last_read >= day_start - recent:
                row.preload_used, row.counted_since = known + new, day_start
            else:
                row.preload_used, row.counted_since = 0, now
        else:
            row.preload_used += known + new
        row.quota_day = day
        row.save(update_fields=["preload_used", "counted_since", "quota_day"])


__all__ = [
    "LIMITS_READ_CALLS",
    "preload_charged",
    "preload_use_count",
    "quota_zone",
    "site_limits_due",
    "site_limits_read",
]
