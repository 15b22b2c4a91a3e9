"""A plan an incident holds says so on the team leads' pages (issue 17, point 4): the overview counts
it as held, the timeline draws it hatched at its original window (its job's lane stays), and both
CSVs say which incident holds what and, for a plan, the window it was meant to run in."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.incidents.models import HeldPlan, Incident
from prefetch_ui.prefetch.models import Job, Plan, PlanStatus, Site
from tests.csv_download import csv_rows
from tests.factories import JobFactory, PlanFactory
from tests.holds import as_shown, hold_done

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(site: Site) -> Job:
    """A job with a running plan (started 10 minutes ago), a waiting one (in an hour), a finished one."""
    job = JobFactory.create(site=site, name="Winter sale", url_count=1000, url_submitted=100)
    now = timezone.now().replace(microsecond=0)
    for status, start in [
        (PlanStatus.RUNNING, now - timedelta(minutes=10)),
        (PlanStatus.WAITING, now + timedelta(hours=1)),
        (PlanStatus.FINISHED, now - timedelta(hours=3)),
    ]:
        PlanFactory.create(job=job, status=status, start_time=start, end_time=start + timedelta(hours=2))
    return job


@pytest.fixture
def incident(job: Job, operator: User) -> Incident:
    return hold_done(user=operator, site=job.site)


def _plan(job: Job, status: str) -> Plan:
    """The fixture's plan that was `status` before the hold."""
    held = {held.original_status: held.plan_esa_id for held in HeldPlan.objects.all()}
    if status in held:
        return Plan.objects.get(esa_id=held[status])
    return Plan.objects.get(job=job, status=status)


def _original(plan: Plan) -> tuple[datetime | None, datetime | None]:
    held = HeldPlan.objects.get(plan_esa_id=plan.esa_id)
    return held.original_start, held.original_end


def _csv(client: Client, name: str) -> list[dict[str, str]]:
    response = client.get(reverse(name))
    assert response.status_code == 200
    return csv_rows(response)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_overview_counts_held_plans_as_held_for_the_site_and_the_job(
    job: Job, incident: Incident, viewer_client: Client
) -> None:
    page = viewer_client.get(reverse("overview")).content.decode()
    card = re.search(rf'<details class="review" id="site-review-{job.site.esa_id}".*?</details>', page, re.S)
    assert card is not None
    counts = _text(card.group(0).split('class="review-counts"')[1].split('class="review-estimate"')[0])
    assert "2 held" in counts and "1 finished" in counts
    assert "waiting" not in counts and "stopped" not in counts and "running" not in counts
    row = re.search(rf'<tr data-job="{job.esa_id}".*?</tr>', card.group(0), re.S)
    assert row is not None
    plans = _text(row.group(0).split('data-label="Plans"')[1].split("</td>")[0])
    assert "2 held" in plans and "waiting" not in plans and "stopped" not in plans


def test_the_timeline_draws_a_held_plan_hatched_at_its_original_window_with_its_incident(
    job: Job, incident: Incident, viewer_client: Client
) -> None:
    waiting = _plan(job, "waiting")
    start, end = _original(waiting)
    page = viewer_client.get(reverse("timeline")).content.decode()
    # Its job's lane is there, though ESA has the plan a year ahead.
    assert f'href="{reverse("job-detail", args=[job.esa_id])}"' in page
    bar = re.search(rf'<a [^>]*data-plan="{waiting.esa_id}"[^>]*>.*?</a>', page, re.S)
    assert bar is not None, "the held plan is not drawn"
    assert 'data-status="held"' in bar.group(0) and 'class="tl-bar held"' in bar.group(0)
    facts = bar.group(0).split("<title>")[1].split("</title>")[0]
    assert f"held by incident #{incident.pk} ({job.site.name})" in facts
    assert f"{as_shown(start)} → {as_shown(end)}, its original window" in facts
    assert f"parked at {as_shown(waiting.start_time)}" in facts
    # Drawn where it was meant to run: left of the middle of the default window (6 h back, 18 h on),
    # a year ahead would be off the picture.
    x = re.search(r'<rect class="tl-bar held" x="([\d.]+)%"', bar.group(0))
    assert x is not None and 25 < float(x.group(1)) < 35
    # The pattern the class fills with is in the page's SVG, and no style attribute (CSP).
    assert '<pattern id="held-hatch"' in page and "style=" not in page.split("<svg")[1].split("</svg>")[0]
    # The running plan the hold stopped is held too; the finished one is drawn as it was.
    assert f'data-plan="{_plan(job, "running").esa_id}" data-status="held"' in page
    assert f'data-plan="{_plan(job, "finished").esa_id}" data-status="finished"' in page


def test_the_plans_csv_has_held_plans_at_their_original_window_and_their_incident(
    job: Job, incident: Incident, viewer_client: Client
) -> None:
    rows = {row["plan_id"]: row for row in _csv(viewer_client, "plans-csv")}
    waiting, finished = _plan(job, "waiting"), _plan(job, "finished")
    assert waiting.esa_id in rows, "a parked plan is in the window it was meant to run in"
    row = rows[waiting.esa_id]
    start, end = _original(waiting)
    assert row["held_by_incident"] == f"incident #{incident.pk}"
    assert start is not None and end is not None
    assert datetime.fromisoformat(row["original_start_time"]) == start
    assert datetime.fromisoformat(row["original_end_time"]) == end
    assert datetime.fromisoformat(row["start_time"]) == waiting.start_time  # where ESA has it: parked
    assert rows[_plan(job, "running").esa_id]["held_by_incident"] == f"incident #{incident.pk}"
    assert rows[finished.esa_id]["held_by_incident"] == ""
    assert datetime.fromisoformat(rows[finished.esa_id]["original_start_time"]) == finished.start_time


def test_the_jobs_csv_counts_held_plans_apart(job: Job, incident: Incident, viewer_client: Client) -> None:
    row = next(row for row in _csv(viewer_client, "jobs-csv") if row["job_id"] == job.esa_id)
    assert (row["plans_held"], row["plans_waiting"], row["plans_stopped"], row["plans_finished"]) == (
        "2",
        "0",
        "0",
        "1",
    )
    assert row["held_by_incident"] == str(incident.pk) and row["state"] == "held"
