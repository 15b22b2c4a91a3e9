"""How fresh the mirror is: when the sync last read each site's jobs from ESA.

A row's `synced_at` says when ESA's values were last written, and the sync writes only what
changed, so an idle site's rows may be hours old in a mirror read a second ago. The pages (and
`/metrics`) need when the site was last *read*; the sync records it here, once per site per cycle.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from ..models import Site


def site_jobs_read(*, site_ids: Collection[int], at: datetime) -> None:
    """The sync read these sites' jobs from ESA without an error at `at` (the cycle's clock).

    One plain UPDATE of one column for the whole cycle, in no transaction of its own and with no
    change version: a read that found nothing new must not wake every page polling the site (their
    polls compare change versions), and one statement a cycle leaves the database to the writers
    that matter. Kept on the site's row rather than in Redis so that a poll reads it in the query
    that reads its site or job already, at no extra cost."""
    if site_ids:
        Site.objects.filter(pk__in=site_ids).update(jobs_read_at=at)


__all__ = ["site_jobs_read"]
