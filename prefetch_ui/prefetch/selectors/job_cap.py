"""How many jobs ESA lets a site hold, as learned from its refusals.

ESA does not publish the cap: creating one job too many is refused `InvalidJob.JobCountOfSiteFull`.
A job create records, with that refusal, how many jobs ESA held on the site just then (its
operation's `result["site_job_count"]`, ESA's own TotalCount: `services.creates`); the latest such
refusal is the cap as far as the dashboard knows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F

from prefetch_ui.web.template_tags import local

from ..models import Job, Operation, OperationKind, OperationStatus, Site

__all__ = ["JOB_COUNT_FULL", "SITE_JOB_COUNT", "JobCap", "job_cap_refusal", "site_job_cap"]

# ESA's refusal of one job more on a site that holds as many as it may.
JOB_COUNT_FULL = "InvalidJob.JobCountOfSiteFull"
# The key of a refused job create's result that holds the jobs ESA had on the site then.
SITE_JOB_COUNT = "site_job_count"


@dataclass(frozen=True, slots=True)
class JobCap:
    """The most jobs ESA holds on a site: the count at its latest refusal of one more."""

    cap: int  # the jobs ESA held when it refused one more
    learned_at: datetime  # when it refused
    jobs_now: int  # the site's jobs as the mirror holds them now

    @property
    def room(self) -> int:
        """Jobs that may still be created before ESA refuses again (as far as the cap is known)."""
        return max(0, self.cap - self.jobs_now)


def site_job_cap(*, site: Site) -> JobCap | None:
    """The site's job cap learned from ESA's latest refusal of a job create (None: never refused)."""
    refusal = (
        Operation.objects.filter(
            site=site,
            kind=OperationKind.JOB_CREATE,
            status=OperationStatus.FAILED,
            error_code=JOB_COUNT_FULL,
            result__has_key=SITE_JOB_COUNT,
        )
        .order_by(F("finished_at").desc(nulls_last=True), "-created_at", "-id")
        .values("result", "finished_at", "created_at")
        .first()
    )
    if refusal is None:
        return None
    count = refusal["result"].get(SITE_JOB_COUNT)
    if not isinstance(count, int):
        return None
    return JobCap(
        cap=count,
        learned_at=refusal["finished_at"] or refusal["created_at"],
        jobs_now=Job.objects.filter(site=site).count(),
    )


def job_cap_refusal(cap: JobCap | None) -> str:
    """ESA's refusal of one job more on the site, in words, with what to do: the cap when it is
    known (times in the operator's zone)."""
    if cap is None:
        return "ESA holds no more jobs on this site: delete finished jobs to make room."
    jobs = f"{cap.cap} job{'' if cap.cap == 1 else 's'}"
    room = f": room for {cap.room} more" if cap.room else ""
    return (
        f"ESA holds at most {jobs} on this site (learned when it refused one at {jobs}, "
        f"{local(cap.learned_at)}); delete finished jobs to make room. It has {cap.jobs_now} now{room}."
    )
