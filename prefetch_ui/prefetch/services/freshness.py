"""How fresh the mirror is: when the sync last read each site's jobs from ESA.

A row's `synced_at` says when ESA's values were last written, and the sync writes only what
changed, so an idle site's rows may be hours old in a mirror read a second ago. The pages (and
`/metrics`) need when the site was last *read*; the sync records it here, once per site per cycle.
"""

from __future__ import annotations

from datetime import datetime

from ..models import Site


def site_jobs_read(*, site_id: int, at: datetime) -> None:
    """The sync read the site's jobs from ESA without an error at `at` (the cycle's clock).

    A plain UPDATE of one column, in no transaction of its own and with no change version: a read
    that found nothing new must not wake every page polling the site (their polls compare change
    versions). Kept on the site's row rather than in Redis so that a poll reads it in the query
    that reads its site or job already, at no extra cost; the write is one short statement per
    site per cycle, beside the ESA calls that read the site."""
    Site.objects.filter(pk=site_id).update(jobs_read_at=at)


__all__ = ["site_jobs_read"]
