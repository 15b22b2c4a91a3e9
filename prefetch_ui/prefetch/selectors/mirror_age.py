"""How old what a page shows of the mirror is: when the sync last read the sites it shows."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import Job, Site

# How old the mirror of a site may get before its pages say so: three sync periods, and never
# under a minute, so that one slow cycle (a large estate takes a few periods) raises no note.
MIRROR_STALE_FLOOR_SECONDS = 60.0


def mirror_stale_after() -> timedelta:
    """How long after the last read of a site's jobs its pages say the sync is behind."""
    return timedelta(seconds=max(MIRROR_STALE_FLOOR_SECONDS, 3 * settings.PREFETCH_SYNC_PERIOD))


def site_read_at(prefix: str = "") -> Coalesce:
    """When the sync last read the site's jobs from ESA (`Site.jobs_read_at`) or, for a site whose
    jobs it never read, when its own row was last written (it was read then): an expression over
    sites, or with `prefix` ("site__") over rows that name a site."""
    return Coalesce(f"{prefix}jobs_read_at", f"{prefix}synced_at")


@dataclass(frozen=True, slots=True)
class MirrorAge:
    """How old what a page shows of the mirror is, when the sync is behind on some site it shows
    (none when every one was read within `mirror_stale_after`)."""

    read_at: datetime  # the oldest last read of the sites shown
    minutes: int  # since then, whole
    sites_behind: int
    sites_shown: int

    @property
    def ago(self) -> str:
        """ "4 min", "2 h 5 min": as the note says it."""
        hours, minutes = divmod(self.minutes, 60)
        return f"{hours} h {minutes} min" if hours else f"{minutes} min"

    @property
    def token(self) -> str:
        """What the note says, in short: a poll whose page shows another token gets the note."""
        return f"{self.minutes}m{self.sites_behind}of{self.sites_shown}"


def mirror_age(*, read_times: Collection[datetime | None], now: datetime) -> MirrorAge | None:
    """The age of a page's mirror from the last reads of the sites it shows (`site_read_at`); None
    while the sync keeps up with every one. No query."""
    limit = now - mirror_stale_after()
    behind = [read_at for read_at in read_times if read_at is not None and read_at < limit]
    if not behind:
        return None
    oldest = min(behind)
    return MirrorAge(
        read_at=oldest,
        minutes=int((now - oldest).total_seconds() // 60),
        sites_behind=len(behind),
        sites_shown=len(read_times),
    )


def sites_mirror_age(
    *, site_ids: Collection[int] | None = None, now: datetime | None = None
) -> MirrorAge | None:
    """The age of the mirror of every site (or of `site_ids`) when the sync is behind: one query."""
    sites = Site.objects.annotate(read_at=site_read_at()).values_list("read_at", flat=True)
    if site_ids is not None:
        sites = sites.filter(pk__in=site_ids)
    return mirror_age(read_times=list(sites), now=now or timezone.now())


def site_mirror_age(*, site: Site, now: datetime | None = None) -> MirrorAge | None:
    """The age of the mirror of one site, read from its row: no query."""
    return listed_sites_mirror_age(sites=[site], now=now)


def listed_sites_mirror_age(*, sites: Collection[Site], now: datetime | None = None) -> MirrorAge | None:
    """The age of the mirror of these sites, read from their rows (`site_list`'s): no query."""
    read_times = [site.jobs_read_at or site.synced_at for site in sites]
    return mirror_age(read_times=read_times, now=now or timezone.now())


def job_mirror_age(*, job: Job, now: datetime | None = None) -> MirrorAge | None:
    """The age of the mirror of the job's site: no query for a job from `job_to_poll`, which read
    its site's last read with it; else its site's row."""
    read_at = getattr(job, "site_read_at", None)
    if read_at is None:
        return site_mirror_age(site=job.site, now=now)
    return mirror_age(read_times=[read_at], now=now or timezone.now())
