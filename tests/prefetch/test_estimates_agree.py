"""Issue 20, "estimates disagree": the builder's preview, the job page and the overview read one model
of how a job's URLs are shared between its plans, and say the same thing in the same words."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.prefetch.models import Job
from tests.factories import JobFactory, PlanFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
ZONE = "Asia/Shanghai"  # the display zone: the builder in it writes times as every other page does
# A whole minute, days ahead: every plan below is still waiting when the builder previews them.
START = (datetime.now(UTC) + timedelta(days=10)).replace(hour=9, minute=0, second=0, microsecond=0)
SENT_BY = re.compile(r'data-estimate="finishes">All URLs sent by <span class="when">([^<]+)</span>')


def _form(rows: dict[str, tuple[datetime, datetime, int, int]], **extra: str) -> dict[str, object]:
    """The builder's form, its times written in ZONE."""
    zone = ZoneInfo(ZONE)
    data: dict[str, object] = {"zone": ZONE, "form_token": "e" * 24, "row": list(rows), **extra}
    for row_id, (start, end, interval, slice_len) in rows.items():
        data[f"start-{row_id}"] = start.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")
        data[f"end-{row_id}"] = end.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")
        data[f"interval-{row_id}"] = str(interval)
        data[f"slice_len-{row_id}"] = str(slice_len)
    return data


# The batch: the first plan's window closes before the job's URLs run out, and the second,
# starting while the first still runs, takes turns with it and then sends the rest.
FIRST = (START, START + timedelta(minutes=5), 60, 10)  # batches at 0..5 min: 60 URLs
SECOND = (START + timedelta(minutes=3), START + timedelta(minutes=30), 60, 10)  # 3, 4, 5, then 6: 40


@pytest.fixture
def job() -> Job:
    return JobFactory.create(name="Launch", url_count=100, url_submitted=0)


def _create(job: Job, *, first_status: str = "waiting") -> None:
    for number, (start, end, interval, slice_len), status in (
        (1, FIRST, first_status),
        (2, SECOND, "waiting"),
    ):
        PlanFactory.create(
            esa_id=f"6650{number:020d}",
            job=job,
            start_time=start,
            end_time=end,
            interval=interval,
            slice_len=slice_len,
            status=status,
        )


def _sent_by(page: str) -> str:
    match = SENT_BY.search(page)
    assert match is not None, "no 'All URLs sent by' on the page"
    return match.group(1)


def test_the_builders_finish_for_a_batch_is_the_job_pages_once_its_plans_exist(
    job: Job, operator_client: Client
) -> None:
    url = reverse("plan-builder-preview", args=[job.esa_id])
    preview = operator_client.post(url, _form({"a": FIRST, "b": SECOND}), headers=HTMX).content.decode()
    promised = _sent_by(preview)
    _create(job)
    page = operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    assert _sent_by(page) == promised
    # Each plan's share, in the words of the builder's rows: 60 URLs by the first, 40 by the second.
    shares = [
        re.sub(r"<[^>]+>", "", share).split(": ", 1)[1].strip()
        for share in re.findall(r'data-testid="plan-share">(.*?)</li>', page, re.DOTALL)
    ]
    assert [share.split(", last batch")[0] for share in shares] == ["60 URLs", "40 URLs"], shares
    # Nothing flagged "after its end": the first plan's share fits its window.
    assert "after its end" not in page and "after the last of them ends" not in page


def test_once_the_first_plan_runs_the_job_page_still_says_the_builders_time(
    job: Job, operator_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = reverse("plan-builder-preview", args=[job.esa_id])
    preview = operator_client.post(url, _form({"a": FIRST, "b": SECOND}), headers=HTMX).content.decode()
    promised = _sent_by(preview)
    _create(job, first_status="running")
    # Two minutes and a second in: its first three batches went out (30 URLs). The old ETA played the
    # running plan alone at its pace, past its end ("ETA … after the last of them ends").
    Job.objects.filter(pk=job.pk).update(url_submitted=30)
    later = START + timedelta(minutes=2, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    page = operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    assert _sent_by(page) == promised
    assert "after the last of them ends" not in page


def test_a_batch_short_of_urls_says_how_many_have_no_plan_in_the_same_words(
    job: Job, operator_client: Client
) -> None:
    short = (START, START + timedelta(minutes=2), 60, 10)  # 3 batches: 30 of 100 URLs
    url = reverse("plan-builder-preview", args=[job.esa_id])
    preview = operator_client.post(url, _form({"a": short}), headers=HTMX).content.decode()
    assert "Will not finish: 70 URLs have no plan" in preview
    PlanFactory.create(
        job=job, start_time=short[0], end_time=short[1], interval=60, slice_len=10, status="waiting"
    )
    page = operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    assert "Will not finish: 70 URLs have no plan" in page
    overview = operator_client.get(reverse("overview")).content.decode()
    assert "Will not finish: 70 URLs have no plan" in overview


def test_the_generator_and_the_hint_agree_when_open_plans_cover_every_url(
    job: Job, operator_client: Client
) -> None:
    _create(job)  # the two plans send all 100 remaining URLs
    hint = html.unescape(operator_client.get(reverse("plan-builder", args=[job.esa_id])).content.decode())
    assert "100 of 100 URLs still to prefetch; the job's open plans will submit 100 of them" in hint
    generate = _form(
        {},
        action="generate",
        gen_mode="spread",
        gen_interval="60",
        gen_start=(START + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        gen_end=(START + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%M"),
        gen_plans="2",
    )
    page = operator_client.post(reverse("plan-builder", args=[job.esa_id]), generate, headers=HTMX)
    text = html.unescape(page.content.decode())
    # Not "no URLs left": 100 are left, and every one of them already has a plan.
    assert "no URLs left" not in text
    assert "Nothing to generate: the job's open plans will submit all its 100 remaining URLs" in text


def test_a_failed_plan_never_draws_a_green_bar_on_any_page(operator_client: Client) -> None:
    # ESA submitted every URL, but the plan failed (an invalid domain): red wherever a bar is drawn.
    job = JobFactory.create(name="Invalid domain", url_count=10, url_submitted=10)
    PlanFactory.create(job=job, status="failed", start_time=timezone.now() - timedelta(hours=2))
    for url in (
        reverse("job-detail", args=[job.esa_id]),
        reverse("site-detail", args=[job.site.esa_id]),
        reverse("overview"),
    ):
        page = operator_client.get(url).content.decode()
        bars = re.findall(r'<progress class="([^"]*)"', page)
        assert bars, url
        assert all("failed" in bar.split() for bar in bars), (url, bars)


def test_the_timeline_and_the_overview_say_the_job_pages_time(job: Job, operator_client: Client) -> None:
    _create(job)
    promised = _sent_by(operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode())
    overview = operator_client.get(reverse("overview")).content.decode()
    assert _sent_by(overview) == promised
    zone = ZoneInfo(ZONE)
    window = {
        "start": (START - timedelta(hours=1)).astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "end": (START + timedelta(hours=1)).astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
    }
    timeline = html.unescape(operator_client.get(reverse("timeline"), window).content.decode())
    lane = re.search(r'<title data-testid="lane-estimate">(.*?)</title>', timeline, re.DOTALL)
    assert lane is not None
    assert f"All URLs sent by {promised}" in " ".join(lane.group(1).split())
