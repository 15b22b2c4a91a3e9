"""/api/v1/limits and /sites/{id}/limits: a site's limits with the numbers of the limits selector."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from prefetch_ui.prefetch.models import SiteLimits
from tests.api.conftest import bearer
from tests.factories import JobFactory, PlanFactory, SiteFactory

pytestmark = pytest.mark.django_db

# 09:00 in Shanghai, the quota's zone.
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _get(path: str, token: str) -> tuple[int, Any]:
    response = Client(headers=bearer(token)).get(f"/api/v1{path}")
    return response.status_code, response.json()


def test_limits_say_when_the_quota_runs_out(
    read_token: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = "Asia/Shanghai"
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    site = SiteFactory.create(status="active")
    SiteLimits.objects.create(
        site=site,
        preload_quota=1_000,
        paused=False,
        quota_day=date(2026, 12, 7),
        preload_used=400,
        counted_since=NOW - timedelta(hours=9),
        purge_quota=10_000,
        purge_used=3,
        purge_quota_30day=0,
        purge_used_30day=0,
    )
    job = JobFactory.create(site=site, url_count=2_000, url_submitted=0)
    start = NOW + timedelta(minutes=10)
    PlanFactory.create(job=job, start_time=start, end_time=start + timedelta(hours=10), slice_len=100)
    unread = SiteFactory.create(esa_id=77, name="unread.example", status="pending")

    status, body = _get(f"/sites/{site.esa_id}/limits", read_token)
    assert status == 200
    quota = body["prefetch_quota"]
    assert (quota["quota"], quota["used"], quota["left"], quota["complete"]) == (1_000, 400, 600, True)
    assert (quota["scheduled"], quota["refused"]) == (2_000, 1_400)
    assert datetime.fromisoformat(quota["runs_out_at"]) == NOW + timedelta(minutes=16)
    assert (body["status"], body["paused"], body["runs"], body["job_count"]) == ("active", False, True, 1)
    assert body["purge_quota"] == {"quota": 10_000, "used": 3, "quota_30day": 0, "used_30day": 0}

    status, every = _get("/limits", read_token)
    assert status == 200
    by_id = {entry["site_id"]: entry for entry in every}
    assert by_id[site.esa_id] == body
    assert (
        by_id[unread.esa_id] | {"prefetch_quota": None, "paused": None, "runs": False} == by_id[unread.esa_id]
    )
