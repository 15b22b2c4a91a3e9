"""A demo estate for a fresh simulator, so the dashboard's first screen has something to show.

Everything goes through the real API with an `EsaClient`, as the dashboard itself would: jobs on
three of the seeded sites whose plans cover every status at speed 1 (waiting, running, finished
within seconds, failed on a foreign domain, stopped by hand, and waiting on a site that is not
active yet). A simulator that already has a job anywhere is left alone, so restarting `make run`
never seeds twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prefetch_ui.esa import EsaClient, PlanSpec

from .store import SEED_SITES

__all__ = ["seed_demo"]

logger = logging.getLogger(__name__)

EXAMPLE_COM = SEED_SITES[0].site_id
SHOP_EXAMPLE_NET = SEED_SITES[1].site_id
BETA_EXAMPLE_IO = next(site.site_id for site in SEED_SITES if site.status != "active")


@dataclass(frozen=True, slots=True)
class _DemoPlan:
    start: timedelta  # from now
    end: timedelta
    interval: int
    slice_len: int
    stop: bool = False  # stopped right after creation


@dataclass(frozen=True, slots=True)
class _DemoJob:
    site_id: int
    name: str
    urls: list[str]
    plans: tuple[_DemoPlan, ...]


def _numbered(template: str, count: int, first: int = 1) -> list[str]:
    return [template.format(n=n) for n in range(first, first + count)]


def _demo_jobs() -> list[_DemoJob]:
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    return [
        _DemoJob(
            EXAMPLE_COM,
            "Homepage assets",
            # 600 URLs at 5 every 10 s: running for 20 minutes.
            _numbered("https://www.example.com/static/js/chunk-{n:03d}.js", 300)
            + _numbered("https://img.example.com/home/banner-{n:03d}.webp", 200)
            + _numbered("https://www.example.com/static/css/section-{n:03d}.css", 100),
            (
                _DemoPlan(-minute, 2 * hour, interval=10, slice_len=5),
                _DemoPlan(3 * hour, 5 * hour, interval=60, slice_len=50),
            ),
        ),
        _DemoJob(
            EXAMPLE_COM,
            "Product images",
            _numbered("https://img.example.com/products/sku-{n}/main-1200.jpg", 200, first=10401),
            (_DemoPlan(timedelta(0), 4 * hour, interval=60, slice_len=20, stop=True),),
        ),
        _DemoJob(
            EXAMPLE_COM,
            "Launch page",
            # 20 URLs at 5 every 5 s: finished 15 s after seeding.
            [
                "https://www.example.com/launch/aurora/",
                *_numbered("https://www.example.com/launch/aurora/assets/part-{n:02d}.js", 9),
                *_numbered("https://img.example.com/launch/aurora/gallery-{n:02d}.avif", 10),
            ],
            (_DemoPlan(timedelta(0), hour, interval=5, slice_len=5),),
        ),
        _DemoJob(
            EXAMPLE_COM,
            "Legacy CDN",
            # Not example.com: ESA refuses every URL, so the plan ends `failed` after its third batch.
            _numbered("https://cdn.example-legacy.net/v1/img/promo-{n:02d}.png", 15),
            (_DemoPlan(timedelta(0), hour, interval=10, slice_len=5),),
        ),
        _DemoJob(
            SHOP_EXAMPLE_NET,
            "Spring sale pages",
            # 240 URLs at 2 every 30 s: running for an hour, then the evening refresh waits.
            _numbered("https://shop.example.net/sale/spring/category-{n:02d}", 40)
            + _numbered("https://shop.example.net/products/{n}", 160, first=88001)
            + _numbered("https://assets.shop.example.net/sale/spring/tile-{n:02d}.jpg", 40),
            (
                _DemoPlan(timedelta(0), 6 * hour, interval=30, slice_len=2),
                _DemoPlan(8 * hour, 10 * hour, interval=30, slice_len=20),
            ),
        ),
        _DemoJob(
            BETA_EXAMPLE_IO,
            "Beta launch warm-up",
            # The site is `pending`: ESA runs no plan of it, so this one waits past its start.
            _numbered("https://beta.example.io/app/bundle-{n:02d}.js", 30),
            (_DemoPlan(timedelta(0), 2 * hour, interval=60, slice_len=10),),
        ),
    ]


def _has_any_job(client: EsaClient) -> bool:
    return any(
        client.list_scheduled_preload_jobs(site_id=site.site_id, page_size=1).total_count
        for site in client.iter_sites()
    )


def seed_demo(client: EsaClient, *, now: datetime | None = None) -> None:
    """Create the demo jobs and plans, unless ESA already has a job on any site.

    Plan windows are relative to `now`, by default ESA's own clock as read from the first job's
    creation time: at `--speed` above 1 the simulator's clock runs ahead of the wall clock.
    """
    if _has_any_job(client):
        logger.info("ESA already has jobs; no demo data added")
        return
    specs = _demo_jobs()
    jobs = [client.create_scheduled_preload_job(site_id=s.site_id, name=s.name, urls=s.urls) for s in specs]
    now = now or jobs[0].created_at or datetime.now(UTC)
    for spec, job in zip(specs, jobs, strict=True):
        result = client.create_scheduled_preload_executions(
            job.id,
            [
                PlanSpec(now + plan.start, now + plan.end, plan.interval, plan.slice_len)
                for plan in spec.plans
            ],
        )
        if result.failed:
            raise RuntimeError(f"ESA refused demo plans of {spec.name!r}: {result.failed_messages}")
        for created, plan in zip(result.succeeded, spec.plans, strict=True):
            if plan.stop:
                client.stop_scheduled_preload_execution(created.id)
    logger.info("added %d demo jobs", len(jobs))
