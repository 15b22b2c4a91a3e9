"""A plan an incident holds says so wherever a plan is shown (issue 17, point 4): the job page
names the incident and shows the window the plan was meant to run in, not the parked one a year
ahead; the site page and the sites page count it as held, not as waiting or stopped."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.incidents.models import HeldPlan
from prefetch_ui.prefetch.models import Job, Plan, PlanStatus, Site
from tests.esa_changes import esa_says
from tests.factories import JobFactory, PlanFactory
from tests.holds import as_shown, hold_done

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def job(site: Site) -> Job:
    """A job with a running plan, a waiting one (starting in an hour) and a finished one."""
    job = JobFactory.create(site=site, name="Winter sale", url_count=1000, url_submitted=100)
    now = timezone.now().replace(microsecond=0)
    for index, (status, start) in enumerate(
        [
            (PlanStatus.RUNNING, now - timedelta(minutes=10)),
            (PlanStatus.WAITING, now + timedelta(hours=1)),
            (PlanStatus.FINISHED, now - timedelta(days=1)),
        ]
    ):
        PlanFactory.create(
            esa_id=f"6651cccccccccccccccccc{index:02d}",
            job=job,
            status=status,
            start_time=start,
            end_time=start + timedelta(hours=2),
        )
    return job


def _row(body: str, plan: Plan) -> str:
    match = re.search(rf'<tr id="plan-{plan.esa_id}".*?</tr>', body, re.S)
    assert match is not None, f"no row for plan {plan.esa_id}"
    return match.group(0)


def _plan(status: str, job: Job) -> Plan:
    return Plan.objects.get(
        job=job, esa_id__endswith={"running": "00", "waiting": "01", "finished": "02"}[status]
    )


def test_the_job_page_shows_a_held_plan_held_by_its_incident_at_its_original_window(
    job: Job, operator: User, operator_client: Client
) -> None:
    waiting, running = _plan("waiting", job), _plan("running", job)
    original_start, original_end = waiting.start_time, waiting.end_time
    incident = hold_done(user=operator, site=job.site)
    waiting.refresh_from_db()
    assert waiting.start_time != original_start  # parked a year ahead in ESA and in the mirror

    body = operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    row = _row(body, waiting)
    assert 'class="badge held"' in row and f"incident #{incident.pk}" in row
    assert reverse("incident-detail", args=[incident.pk]) in row
    window = re.search(r'data-testid="plan-window">([^<]*)<', row)
    assert window is not None and window.group(1) == f"{as_shown(original_start)} → {as_shown(original_end)}"
    # Where it is parked is a detail, said as such.
    assert f"parked at {as_shown(waiting.start_time)}" in row
    # The running plan the hold stopped is held too; the finished one is left as it was.
    assert f"incident #{incident.pk}" in _row(body, running)
    assert "held" not in _row(body, _plan("finished", job))
    # Counted as held, not as waiting or stopped; the filter lists them.
    filters = re.search(r'data-testid="plan-filter".*?</nav>', body, re.S)
    assert filters is not None
    assert (
        "2 held" in filters.group(0)
        and "waiting" not in filters.group(0)
        and "stopped" not in filters.group(0)
    )
    held_only = operator_client.get(reverse("job-detail", args=[job.esa_id]), {"status": "held"})
    assert set(re.findall(r'<tr id="plan-(\w+)"', held_only.content.decode())) == {
        waiting.esa_id,
        running.esa_id,
    }
    waiting_only = operator_client.get(reverse("job-detail", args=[job.esa_id]), {"status": "waiting"})
    assert re.findall(r'<tr id="plan-(\w+)"', waiting_only.content.decode()) == []


def test_a_poll_of_the_job_page_draws_a_changed_held_row_as_the_page_does(
    job: Job, operator: User, operator_client: Client
) -> None:
    incident = hold_done(user=operator, site=job.site)
    page = operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    poll = re.search(r'id="job-poll"[^>]*hx-get="([^"]+)"', page)
    assert poll is not None, "a held job's page polls on: its incident's resume will change it"
    waiting = _plan("waiting", job)
    original_start = HeldPlan.objects.get(plan_esa_id=waiting.esa_id).original_start
    esa_says(waiting, interval=300)  # ESA's answer about the parked plan changed one field
    body = operator_client.get(poll.group(1).replace("&amp;", "&"), headers=HTMX).content.decode()
    row = _row(body, waiting)
    assert 'hx-swap-oob="true"' in row and f"incident #{incident.pk}" in row
    assert as_shown(original_start) in row and "300 s" in row


def test_the_site_page_counts_held_plans_as_held(job: Job, operator: User, operator_client: Client) -> None:
    hold_done(user=operator, site=job.site)
    body = operator_client.get(reverse("site-detail", args=[job.site.esa_id])).content.decode()
    row = re.search(rf'<tr id="job-{job.esa_id}".*?</tr>', body, re.S)
    assert row is not None
    counts = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(0).split('class="counts"')[1]))
    assert "2 held" in counts and "1 finished" in counts
    assert "waiting" not in counts and "stopped" not in counts and "running" not in counts


def test_the_sites_page_counts_held_plans_as_held(job: Job, operator: User, operator_client: Client) -> None:
    hold_done(user=operator, site=job.site)
    body = operator_client.get(reverse("home")).content.decode()
    row = re.search(rf'<tr data-site="{job.site.esa_id}".*?</tr>', body, re.S)
    assert row is not None
    cells = [
        re.sub(r"<[^>]+>|\s+", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    ]
    # Jobs, waiting, held, running, finished, failed, stopped.
    assert cells[1:] == ["1", "0", "2", "0", "1", "0", "0"]


def test_the_builder_and_new_job_say_up_front_that_the_site_is_held(
    job: Job, operator: User, operator_client: Client
) -> None:
    builder_url = reverse("plan-builder", args=[job.esa_id])
    new_job_url = reverse("job-new", args=[job.site.esa_id])
    before = [operator_client.get(url).content.decode() for url in (builder_url, new_job_url)]
    assert all('data-testid="builder-held"' not in page for page in before)
    assert all('data-testid="job-new-held"' not in page for page in before)

    incident = hold_done(user=operator, site=job.site)
    builder = operator_client.get(builder_url).content.decode()
    assert f"is held by incident #{incident.pk}" in builder
    assert "You can prepare plans here; they can be sent once it is resumed." in builder
    new_job = operator_client.get(new_job_url).content.decode()
    assert f"is held by incident #{incident.pk}" in new_job
    assert "plans can be added to it once the site is resumed" in new_job
