"""How hard a resume hits each site's origin, and the ramp that keeps it under a cap.

Resuming puts back every held plan at once: each plan whose start passed during the hold fires its
first batch the moment ESA gets the call, so an origin that was just protected takes a burst bigger
than anything it was scheduled for. The resume's confirmation therefore shows, per site and in
URLs a minute, the load that was scheduled before the hold, the load of a resume "as it was", and
that of a ramp: the plans' windows staggered by whole minutes (UpdateScheduledPreloadExecution)
so that no minute passes a cap, by default the site's peak from before the hold. The arithmetic is
`prefetch_ui.planning.ramp`'s; this module picks its inputs from the incident and the mirror.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings

from prefetch_ui.planning.ramp import (
    RampError,
    ResumedPlan,
    minimum_cap,
    ramp_windows,
    resume_load,
)
from prefetch_ui.prefetch.models import Site

from ..models import HeldPlan

# How far ahead loads are drawn at most: a window that runs longer is counted this far.
HORIZON = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SiteLoad:
    """One site's origin load around a resume, in URLs a minute."""

    site: Site
    plans: int  # plans the resume puts back on this site
    before: tuple[datetime, int] | None  # the busiest minute scheduled before the hold
    as_it_was: tuple[datetime, int] | None  # ... of a resume that puts every plan back at once
    default_cap: int  # the cap offered: the peak before the hold, or the least a ramp accepts
    least_cap: int  # one plan alone sends this much in some minute: no ramp goes below it
    cap: int | None = None  # the ramp's cap; None: as it was
    ramped: tuple[datetime, int] | None = None  # the busiest minute under the ramp
    last_start: datetime | None = None  # when the last plan the ramp delays starts
    error: str = ""  # why the ramp cannot keep `cap`
    windows: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)  # under the ramp

    @property
    def delayed(self) -> int:
        return len(self.windows)


def _fan_out(calls: int) -> timedelta:
    """How long a resume's ESA calls take at most within the budget (two a plan: move, start)."""
    return timedelta(seconds=math.ceil(2 * calls / max(1, settings.PREFETCH_ESA_CALLS_PER_SECOND)))


def ramp_epoch(*, now: datetime, calls: int) -> datetime:
    """The first whole minute a ramped plan may start: after the resume's calls are all made.

    A window that has begun when its call reaches ESA fires at once, whenever that is, so the ramp
    starts after the lead the reschedules have and the time the calls take within the budget.
    """
    moment = now + timedelta(seconds=settings.PREFETCH_RESCHEDULE_LEAD_SECONDS) + _fan_out(calls)
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


def ramp_still_ahead(*, shown_at: datetime, now: datetime, calls: int) -> bool:
    """Whether a ramp laid out at `shown_at` (the confirmation the operator read) can still be
    sent as shown: its first start is still ahead of the calls that set it up."""
    return shown_at <= now and ramp_epoch(now=shown_at, calls=calls) >= now + _fan_out(calls)


def _resumed(held: HeldPlan, window: tuple[datetime, datetime]) -> ResumedPlan:
    return ResumedPlan(held.plan_esa_id, held.job_esa_id, window[0], window[1], held.interval, held.slice_len)


def _original(held: HeldPlan) -> ResumedPlan | None:
    if held.original_start is None or held.original_end is None:
        return None
    return _resumed(held, (held.original_start, held.original_end))


def site_loads(
    *,
    held_at: datetime,
    held: Sequence[HeldPlan],
    sent: Sequence[tuple[HeldPlan, tuple[datetime, datetime]]],
    remaining_urls: Mapping[str, int],
    now: datetime,
    caps: Mapping[int, int] | None,
) -> list[SiteLoad]:
    """Each site's load: before the hold (every plan `held` at its original window, from `held_at`),
    as it was (the plans `sent`, each with the window the resume would give it), and, with `caps`
    (site ESA id → URLs a minute; a site not named gets its default), under a ramp."""
    sites: dict[int, Site] = {}
    before: dict[int, list[ResumedPlan]] = {}
    for row in held:
        sites[row.site_id] = row.site
        if (plan := _original(row)) is not None:
            before.setdefault(row.site_id, []).append(plan)
    going: dict[int, list[ResumedPlan]] = {}
    for row, window in sent:
        sites[row.site_id] = row.site
        going.setdefault(row.site_id, []).append(_resumed(row, window))
    epoch = ramp_epoch(now=now, calls=len(sent))
    loads = []
    for site_id, site in sorted(sites.items(), key=lambda item: item[1].name):
        plans = going.get(site_id, [])
        if not plans:
            continue
        earlier = before.get(site_id, [])
        scheduled = resume_load(
            plans=earlier,
            remaining_urls=remaining_urls,
            now=held_at,
            until=_until(held_at, earlier),
        ).peak
        until = _until(now, plans)
        as_it_was = resume_load(plans=plans, remaining_urls=remaining_urls, now=now, until=until).peak
        least = minimum_cap(plans=plans)
        load = SiteLoad(
            site=site,
            plans=len(plans),
            before=scheduled,
            as_it_was=as_it_was,
            default_cap=max(scheduled[1] if scheduled else 0, least),
            least_cap=least,
        )
        if caps is not None:
            load = _ramped(load, plans, caps.get(site.esa_id, load.default_cap), remaining_urls, now, epoch)
        loads.append(load)
    return loads


def _ramped(
    load: SiteLoad,
    plans: list[ResumedPlan],
    cap: int,
    remaining_urls: Mapping[str, int],
    now: datetime,
    epoch: datetime,
) -> SiteLoad:
    try:
        ramp = ramp_windows(plans=plans, remaining_urls=remaining_urls, cap=cap, now=now, epoch=epoch)
    except RampError as error:
        return replace(load, cap=cap, error=f"{load.site.name}: {error}")
    return replace(
        load, cap=cap, ramped=ramp.load.peak, last_start=ramp.last_start or epoch, windows=ramp.windows
    )


def _until(now: datetime, plans: Sequence[ResumedPlan]) -> datetime:
    last = max((plan.end for plan in plans), default=now)
    return min(max(last, now) + timedelta(minutes=1), now + HORIZON)
