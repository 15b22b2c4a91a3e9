"""The mirror's orders are the same on every database: a time ESA left out sorts last.

SQLite puts NULL first in ascending order and last in descending order; PostgreSQL does the opposite.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from prefetch_ui.prefetch.models import Job, Site
from prefetch_ui.prefetch.selectors.sites import site_job_list
from tests.factories import JobFactory, PlanFactory

pytestmark = pytest.mark.django_db


def test_a_job_without_a_creation_time_comes_after_the_dated_ones(site: Site) -> None:
    now = timezone.now()
    undated = JobFactory.create(site=site, name="undated", esa_created_at=None)
    older = JobFactory.create(site=site, name="older", esa_created_at=now - timedelta(days=1))
    newer = JobFactory.create(site=site, name="newer", esa_created_at=now)
    assert list(Job.objects.all()) == [newer, older, undated]
    assert list(site_job_list(site=site, name="", created_from=None, created_to=None)) == [
        newer,
        older,
        undated,
    ]


def test_a_plan_without_a_start_comes_after_the_others(site: Site) -> None:
    job = JobFactory.create(site=site)
    now = timezone.now()
    unknown = PlanFactory.create(job=job, start_time=None)
    later = PlanFactory.create(job=job, start_time=now + timedelta(hours=1))
    sooner = PlanFactory.create(job=job, start_time=now)
    assert list(job.plans.all()) == [sooner, later, unknown]
