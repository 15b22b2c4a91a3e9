"""A job's ErrorInfo read into entries, and the job page saying what ESA's refusals mean: the daily
prefetch quota (QuotaExcess as batches go out) and the URLs a job could not keep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from prefetch_ui.esa import PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, Limits, Quotas, SimConfig
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator
from prefetch_ui.prefetch.error_info import ErrorEntry, ErrorKind, error_info_entries
from prefetch_ui.prefetch.models import Job
from prefetch_ui.prefetch.selectors.job_errors import error_explanations, quota_renews_at
from prefetch_ui.prefetch.services.sync import esa_sync

QUOTA_REFUSED = "quota excess:1200 urls refused (the site's daily prefetch quota was used up)"
OVER_LIMIT = "quota excess:5 urls over the limit of 50000 urls a job keeps"


def test_each_quota_entry_is_read_as_its_own_fact() -> None:
    assert error_info_entries(f"invalid domain:test.com,{OVER_LIMIT},{QUOTA_REFUSED}") == [
        ErrorEntry(ErrorKind.INVALID_DOMAIN, "invalid domain:test.com", "test.com"),
        ErrorEntry(ErrorKind.OVER_JOB_LIMIT, OVER_LIMIT, OVER_LIMIT.split(":")[1], urls=5, limit=50000),
        ErrorEntry(ErrorKind.QUOTA_REFUSED, QUOTA_REFUSED, QUOTA_REFUSED.split(":")[1], urls=1200),
    ]


@pytest.mark.parametrize(
    ("text", "kind", "urls"),
    [
        ("QuotaExcess", ErrorKind.QUOTA_REFUSED, None),  # the kind alone: ESA's daily quota
        ("QuotaExcess: 2 URLs refused", ErrorKind.QUOTA_REFUSED, 2),  # ESA's name, other words
        ("QUOTA_EXCESS:3 urls over the limit", ErrorKind.OVER_JOB_LIMIT, 3),
        ("InvalidDomain:test.com", ErrorKind.INVALID_DOMAIN, None),
        ("other errors:oss object not readable", ErrorKind.OTHER, None),
        ("Throttled", ErrorKind.UNKNOWN, None),
        ("bad\ufffdhost", ErrorKind.UNKNOWN, None),
    ],
)
def test_either_spelling_of_a_kind_is_read_and_an_unknown_one_kept(
    text: str, kind: ErrorKind, urls: int | None
) -> None:
    [entry] = error_info_entries(text)
    assert (entry.kind, entry.text, entry.urls) == (kind, text, urls)


def test_a_comma_inside_a_url_does_not_split_its_entry() -> None:
    entries = error_info_entries("invalid url:https://example.com/a,b?c=1,2,invalid domain:x.org")
    assert [(entry.kind, entry.detail) for entry in entries] == [
        (ErrorKind.INVALID_URL, "https://example.com/a,b?c=1,2"),
        (ErrorKind.INVALID_DOMAIN, "x.org"),
    ]


@given(st.text(max_size=80))
def test_no_part_of_the_errorinfo_is_ever_dropped(error_info: str) -> None:
    entries = error_info_entries(error_info)
    assert ",".join(entry.text for entry in entries) == (error_info if error_info.strip() else "")


def test_the_explanations_say_what_happened_and_what_to_do() -> None:
    now = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)  # 04:00 on the 8th in Asia/Shanghai
    explained = error_explanations(error_info_entries(f"{QUOTA_REFUSED},{OVER_LIMIT}"), now=now)
    assert [explanation.kind for explanation in explained] == [
        ErrorKind.QUOTA_REFUSED,
        ErrorKind.OVER_JOB_LIMIT,
    ]
    quota, over = (explanation.text for explanation in explained)
    assert quota.startswith(
        "ESA refused 1,200 of this job's URLs because the site's daily prefetch quota was used up"
    )
    assert "They are not retried: the quota renews at midnight (Asia/Shanghai; next at" in quota
    assert "reset the job after that" in quota and "plans spread so that each day" in quota
    assert over == (
        "5 URLs were over the limit of 50,000 URLs a job keeps and were dropped when ESA created "
        "the job: create another job for them."
    )
    assert quota_renews_at(now=now) == datetime(2026, 12, 8, 16, 0, tzinfo=UTC)  # midnight on the 9th
    # Nothing to explain in what ESA did not document: the page shows it as it is.
    assert error_explanations(error_info_entries("Throttled,other errors:x")) == []
    assert "refused some of this job's URLs" in error_explanations(error_info_entries("QuotaExcess"))[0].text


# -- the job page, with the simulator's quota and job limit ---------------------------------------

SPEED = 480  # a simulated day is three minutes of the hand clock (inside the signature's 15)


@pytest.fixture
def limited_sim(tmp_path: Path, clock: ManualClock) -> Iterator[RunningSimulator]:
    config = SimConfig(
        state_path=tmp_path / "limited.sqlite3",
        speed=SPEED,
        quotas=Quotas(preload_per_site={DEMO_SITE_ID: 25}),
        limits=Limits(max_urls_per_job=40),
    )
    with running_simulator(config, real_time=clock) as running:
        yield running


@pytest.mark.django_db(transaction=True)
def test_the_job_page_explains_the_quotas_refusal_and_the_urls_a_job_could_not_keep(
    limited_sim: RunningSimulator, clock: ManualClock, operator_client: Client
) -> None:
    quotas = limited_sim.simulator.config.quotas
    now = limited_sim.simulator.store.clock.now()
    # Just after a midnight in the quota's zone: the whole day's quota is ahead.
    clock.forward((quotas.day_of(now)[1] + 60 - now) / SPEED)
    with limited_sim.client() as esa:
        created = esa.create_scheduled_preload_job(
            site_id=DEMO_SITE_ID, name="Too much", urls=[f"https://example.com/{n}" for n in range(43)]
        )
        start = datetime.fromtimestamp(limited_sim.simulator.store.clock.now(), UTC)
        esa.create_scheduled_preload_executions(
            created.id, [PlanSpec(start, start + timedelta(hours=1), interval=60, slice_len=10)]
        )
        clock.forward(600 / SPEED)  # ten simulated minutes: every batch has gone out
        esa_sync(client=esa)
    job = Job.objects.get(esa_id=created.id)
    assert job.error_info == (
        "quota excess:3 urls over the limit of 40 urls a job keeps,"
        "quota excess:15 urls refused (the site's daily prefetch quota was used up)"
    )
    page = operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    assert 'data-testid="job-error-explanations"' in page
    assert (
        "ESA refused 15 of this job&#x27;s URLs because the site&#x27;s daily prefetch quota was used up"
        in page
    )
    assert "the quota renews at midnight (Asia/Shanghai; next at" in page
    assert (
        "3 URLs were over the limit of 40 URLs a job keeps and were dropped when ESA created the job: "
        "create another job for them." in page
    )
    assert job.error_info.replace("'", "&#x27;") in page  # ESA's own words stay beside the explanation
