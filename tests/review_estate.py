"""A mirror with something in every state, around `now`, for the team lead's pages.

example.com has a job running to a known finish, one waiting to start later, one with a failed
plan, one late (waiting well past its start), one whose window closes before its URLs run out, one
paused (a plan stopped with URLs left) and one done; shop.example.net is held by an incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User

from prefetch_ui.esa_sim import SEED_SITES
from prefetch_ui.incidents.models import Incident, IncidentStatus
from prefetch_ui.prefetch.models import Job, Plan, Site
from tests.factories import JobFactory, PlanFactory, SiteFactory

SHOP_SITE_ID = SEED_SITES[1].site_id


@dataclass(frozen=True, slots=True)
class ReviewEstate:
    now: datetime
    site: Site
    shop: Site
    jobs: dict[str, Job]
    plans: dict[str, Plan]
    hold: Incident


def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


def review_estate_create(*, now: datetime, held_by: User | None = None) -> ReviewEstate:
    """The estate, its times relative to `now` (whole seconds)."""
    site = SiteFactory.create(status="active")
    shop = SiteFactory.create(esa_id=SHOP_SITE_ID, name="shop.example.net", status="active")
    jobs: dict[str, Job] = {}
    plans: dict[str, Plan] = {}

    def job(key: str, name: str, *, on: Site = site, urls: int, submitted: int, error_info: str = "") -> Job:
        jobs[key] = JobFactory.create(
            site=on,
            name=name,
            url_count=urls,
            url_submitted=submitted,
            error_info=error_info,
            esa_created_at=now - _hours(len(jobs) + 1),
        )
        return jobs[key]

    def plan(
        key: str, of: Job, status: str, start: timedelta, end: timedelta, interval: int, slice_len: int
    ) -> None:
        plans[key] = PlanFactory.create(
            job=of,
            status=status,
            start_time=now + start,
            end_time=now + end,
            interval=interval,
            slice_len=slice_len,
        )

    # 600 URLs left at 10 a minute, the next batch on the minute: the last one 59 minutes from now.
    spring = job("running", "Spring sale", urls=1000, submitted=400)
    plan("done-earlier", spring, "finished", -_hours(5), -_hours(4), 60, 10)
    plan("running", spring, "running", -_hours(1), _hours(2), 60, 10)
    # Starts in 2 hours: 500 URLs at 5 a minute take 100 batches, the last 99 minutes after the start.
    catalogue = job("waiting", "Catalogue", urls=500, submitted=0)
    plan("waiting", catalogue, "waiting", _hours(2), _hours(4), 60, 5)
    broken = job(
        "failed", "Broken links", urls=100, submitted=20, error_info="InvalidDomain: invalid domain:test.com"
    )
    plan("failed", broken, "failed", -_hours(3), -_hours(2), 60, 10)
    late = job("late", "Late starter", urls=200, submitted=0)
    plan("late", late, "waiting", -timedelta(minutes=20), _hours(1), 60, 10)
    # 11 batch times of 5 URLs left in its window (from now): 245 of 300 URLs have no plan.
    short = job("short", "Short window", urls=300, submitted=0)
    plan("short", short, "running", -timedelta(minutes=10), timedelta(minutes=10), 60, 5)
    paused = job("paused", "Paused", urls=100, submitted=30)
    plan("paused", paused, "stopped", -_hours(1), _hours(1), 60, 10)
    done = job("done", "Done already", urls=50, submitted=50)
    plan("done", done, "finished", -_hours(6), -_hours(5), 60, 10)

    shop_job = job("held", "Shop warm-up", on=shop, urls=100, submitted=10)
    plan("held-stopped", shop_job, "stopped", -_hours(1), _hours(1), 60, 10)
    plan("held-parked", shop_job, "waiting", timedelta(days=365), timedelta(days=365, hours=1), 60, 10)
    hold = Incident.objects.create(
        site=shop, reason="origin 5xx", status=IncidentStatus.HELD, held_by=held_by
    )
    return ReviewEstate(now=now, site=site, shop=shop, jobs=jobs, plans=plans, hold=hold)
