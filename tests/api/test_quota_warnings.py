"""The API says what the pages warn of before plans are added: a batch of plans (POST /jobs/{id}/plans)
answers `quota_exceeded` and `site_paused` warnings in the builder's words, and the resume's preview
carries each site's quota figures and warnings as the resume page shows them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from prefetch_ui.api.services import token_create
from prefetch_ui.incidents.selectors import resume_quota_checks
from prefetch_ui.incidents.services.resumes import resume_preview
from prefetch_ui.prefetch.models import Site, SiteLimits
from tests.api.conftest import MakeToken, bearer
from tests.factories import JobFactory, PlanFactory, SiteFactory
from tests.holds import hold_done

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _zone(settings: Settings) -> None:
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = "Asia/Shanghai"


def _midnight(days: int) -> datetime:
    day = timezone.now().astimezone(SHANGHAI).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)


def _site(*, quota: int | None, paused: bool = False) -> Site:
    site = SiteFactory.create(status="active")
    SiteLimits.objects.create(
        site=site,
        preload_quota=quota,
        paused=paused,
        quota_day=timezone.now().astimezone(SHANGHAI).date(),
        counted_since=_midnight(0),
    )
    return site


def _call(token: str, path: str, body: object) -> tuple[int, Any]:
    response = Client().post(
        f"/api/v1{path}", json.dumps(body), content_type="application/json", headers=bearer(token)
    )
    return response.status_code, response.json()


def _plans(start: datetime, *, slice_len: int) -> dict[str, object]:
    plan: dict[str, object] = {"start_time": start.isoformat(), "interval": 60, "slice_len": slice_len}
    return {"plans": [plan | {"end_time": (start + timedelta(minutes=59)).isoformat()}]}


def test_a_batch_past_the_quota_is_taken_with_a_warning_in_the_builder_s_words(
    operator: User, make_token: MakeToken
) -> None:
    token = make_token(operator, scopes=["read", "operate"])
    job = JobFactory.create(site=_site(quota=1_000), url_count=10_000, url_submitted=0)
    night = _midnight(2)
    status, body = _call(token, f"/jobs/{job.esa_id}/plans", _plans(night, slice_len=20))
    assert status == 202  # a warning, not a refusal
    refused_from = (night + timedelta(minutes=50)).astimezone(SHANGHAI)
    on = f"{refused_from:%b} {refused_from.day}"
    assert body["warnings"] == [
        f"quota_exceeded: This batch would send 1,200 URLs on {on} (Asia/Shanghai quota day); the site's "
        "daily prefetch quota (1,000 URLs) has 1,000 left that day at the current schedule, so ESA would "
        f"refuse 200 URLs that day, the first at {refused_from:%Y-%m-%d %H:%M:%S} +08:00. Spread the "
        "plans over more days or lower the batch size."
    ]
    # Within the quota, or on a quota not read yet: nothing to warn of.
    within = JobFactory.create(site=job.site, url_count=100, url_submitted=0)
    assert _call(token, f"/jobs/{within.esa_id}/plans", _plans(night, slice_len=1))[1]["warnings"] == []
    SiteLimits.objects.update(preload_quota=None)
    assert _call(token, f"/jobs/{job.esa_id}/plans", _plans(night, slice_len=20))[1]["warnings"] == []


def test_a_batch_for_a_paused_site_is_warned_of(operator: User, make_token: MakeToken) -> None:
    token = make_token(operator, scopes=["read", "operate"])
    job = JobFactory.create(site=_site(quota=1_000, paused=True), url_count=10_000, url_submitted=0)
    status, body = _call(token, f"/jobs/{job.esa_id}/plans", _plans(_midnight(2), slice_len=20))
    assert status == 202
    assert body["warnings"] == [
        "site_paused: example.com is paused in ESA: ESA will not run these plans while the site is "
        "paused, and batches due meanwhile are not made up for."
    ]


def test_the_resume_preview_carries_each_site_s_quota_figures(operator: User) -> None:
    token = token_create(user=operator, name="pager", scopes=["read", "incidents"], expires_in_days=1).secret
    site = _site(quota=1_000)
    job = JobFactory.create(site=site, url_count=5_000, url_submitted=0)
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=10)
    PlanFactory.create(job=job, start_time=start, end_time=start + timedelta(hours=2), slice_len=20)
    incident = hold_done(user=operator, site=site)
    status, body = _call(token, f"/incidents/{incident.pk}/resume/preview", {"pace": "as_it_was"})
    assert status == 200
    (load,) = body["loads"]
    quota = load["quota"]
    # The page's figures: the same check, from the same windows (as it was: the plan's own).
    (check,) = resume_quota_checks(preview=resume_preview(incident=incident, caps=None))
    assert (quota["state"], quota["time_zone"]) == ("exceeded", "Asia/Shanghai")
    assert [(day["day"], day["sends"], day["left"], day["refused"]) for day in quota["days"]] == [
        (day.day.isoformat(), day.sends, day.left, day.refused) for day in check.days
    ]
    assert sum(day["sends"] for day in quota["days"]) == 2_420
    assert len(quota["warnings"]) == len(check.exceeded)
    assert all(warning.startswith("quota_exceeded: Resuming would send ") for warning in quota["warnings"])
    assert "A ramp spreads them further" in quota["warnings"][0]
