"""In a real browser (Debian's Chromium driven by Playwright): a viewer reads the team lead's pages.

The overview, the timeline and the audit log over an estate with something in every state
(`tests.review_estate`): what each page says about it, its filters, its CSV read back, its
pictures at 1400 px and at phone width, and what it says when there is nothing to show.
With PREFETCH_SHOTS_DIR set, each page is also saved there as a PNG at both widths, for a person to
look at; no assertion reads them.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.prefetch.models import OperationKind, OperationStatus, Plan, PlanStatus, Site
from tests.accounts import VIEWER, log_in
from tests.factories import JobFactory, OperationFactory, PlanFactory, SiteFactory
from tests.holds import hold_done
from tests.review_estate import SHOP_SITE_ID, ReviewEstate, review_estate_create

pytestmark = [pytest.mark.django_db(transaction=True)]

# Where to save the pages as pictures for a person (PREFETCH_SHOTS_DIR), if anywhere; nothing reads them.
SHOTS = Path(os.environ["PREFETCH_SHOTS_DIR"]) if os.environ.get("PREFETCH_SHOTS_DIR") else None
WIDE, PHONE = 1400, 390
# The timeline's default window: 6 hours before the minute of now, 18 after.
BEFORE, AFTER = timedelta(hours=6), timedelta(hours=18)
WINDOW = BEFORE + AFTER
# Percent of the window's width; a minute is 0.07 %, and a minute may pass between data and page.
WHERE = 0.5


@pytest.fixture
def estate(viewer: User, operator: User) -> ReviewEstate:
    """Every state around the current whole minute; shop.example.net held by the operator."""
    return review_estate_create(now=timezone.now().replace(second=0, microsecond=0), held_by=operator)


def _shot(page: Page, name: str, width: int, *, prepare: Callable[[], None] | None = None) -> None:
    """Show the page at `width`; with SHOTS, save it as <name>-<width>.png (for people, not the test)."""
    page.set_viewport_size({"width": width, "height": 900})
    if prepare is not None:
        prepare()
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)


def _download_csv(page: Page, link: Locator) -> tuple[str, list[dict[str, str]]]:
    """Click a CSV link as a person would; the file's name and its rows, read back."""
    with page.expect_download() as info:
        link.click()
    download = info.value
    # The file starts with a byte order mark, for Excel: utf-8-sig drops it.
    with download.path().open(encoding="utf-8-sig", newline="") as file:
        return download.suggested_filename, list(csv.DictReader(file))


def _moment(text: str) -> datetime:
    """A CSV time: ISO 8601 that states its offset."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


def _flags(place: Locator) -> list[str]:
    """The attention flags shown in `place`, in the page's order."""
    return [str(span.get_attribute("data-flag")) for span in place.locator("[data-flag]").all()]


def _reads_only(page: Page) -> None:
    """A viewer's page: no form that changes anything, no button but the filters' own."""
    main = page.locator("main")
    expect(main.locator("form[method=post]")).to_have_count(0)
    expect(main.locator("button")).to_have_count(1)
    expect(main.locator("form[method=get] button[type=submit]")).to_have_count(1)


def _no_horizontal_overflow(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def _tick_labels_apart(page: Page) -> None:
    """In every picture, the tick labels that show do not run into one another."""
    pictures: list[list[list[float]]] = page.evaluate(
        """() => [...document.querySelectorAll("svg")].map(svg =>
            [...svg.querySelectorAll(".tick-label")]
              .filter(label => getComputedStyle(label).display !== "none")
              .map(label => { const box = label.getBoundingClientRect(); return [box.left, box.right]; })
              .filter(([left, right]) => right > left))"""
    )
    assert any(pictures), "no tick label shows"
    for labels in pictures:
        boxes = sorted(labels)
        for (_, right), (next_left, _) in pairwise(boxes):
            assert right <= next_left, boxes


def _query(page: Page) -> str:
    """The query string of the page's address: the filters it was asked with."""
    return urlsplit(page.url).query


def _percent(value: str | None) -> float:
    assert value is not None and value.endswith("%"), value
    return float(value.removesuffix("%"))


# -- the overview ---------------------------------------------------------------------------------


def test_a_viewer_reads_the_overview_filters_it_and_downloads_its_jobs(
    page: Page, live_server: LiveServer, estate: ReviewEstate
) -> None:
    jobs = estate.jobs
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Overview").click()
    page.wait_for_url(f"{live_server.url}/overview/")
    _reads_only(page)

    # Both sites, needs-attention first: the held one leads.
    reviews = page.locator("details.review")
    expect(reviews).to_have_count(2)
    expect(reviews.nth(0)).to_have_attribute("data-site-review", str(SHOP_SITE_ID))
    expect(reviews.nth(1)).to_have_attribute("data-site-review", str(DEMO_SITE_ID))
    shop = page.locator(f'details[data-site-review="{SHOP_SITE_ID}"]')
    example = page.locator(f'details[data-site-review="{DEMO_SITE_ID}"]')
    expect(shop.get_by_test_id("site-hold")).to_have_text(f"held by incident #{estate.hold.pk}")
    expect(shop.get_by_test_id("site-hold")).to_have_attribute("href", f"/incidents/{estate.hold.pk}/")
    expect(example.get_by_test_id("site-hold")).to_have_count(0)

    # Opened, example.com shows its jobs in play with what needs a look, and when each will finish.
    table = example.get_by_test_id("site-jobs")
    expect(table).to_be_hidden()
    example.locator("summary").click()
    expect(table).to_be_visible()
    rows = {key: table.locator(f'tr[data-job="{job.esa_id}"]') for key, job in jobs.items()}
    expect(rows["done"]).to_have_count(0)  # every URL sent, nothing failed: not in play
    for key in ("running", "waiting", "failed", "late", "short", "paused"):
        expect(rows[key].locator("td.name")).to_have_text(jobs[key].name)
    assert _flags(rows["running"]) == []
    assert _flags(rows["waiting"]) == []
    # Broken links failed, and its 80 URLs left have no plan that will send them.
    assert _flags(rows["failed"]) == ["failed", "stalled"]
    assert _flags(rows["late"]) == ["late"]
    assert _flags(rows["short"]) == ["stalled"]
    assert _flags(rows["paused"]) == ["stalled"]
    expect(rows["failed"].locator("td.error-info")).to_contain_text("InvalidDomain")
    expect(rows["running"].locator("[data-estimate]")).to_have_attribute("data-estimate", "finishes")
    expect(rows["late"].locator("[data-estimate]")).to_have_attribute("data-estimate", "finishes")
    for key in ("short", "paused"):
        expect(rows[key].locator("[data-estimate]")).to_have_attribute("data-estimate", "will-not-finish")
    # 300 URLs, 5 a minute, the window closing in 10 minutes: 11 batches at most, fewer as minutes pass.
    expect(rows["short"].locator("[data-estimate]")).to_have_text(
        re.compile(r"^Will not finish: (245|250|255|260) URLs have no plan$")
    )
    assert set(_flags(example.locator("summary"))) >= {"failed", "late", "stalled"}

    shop.locator("summary").click()
    held = shop.get_by_test_id("site-jobs").locator(f'tr[data-job="{jobs["held"].esa_id}"]')
    assert _flags(held) == ["held"]
    expect(held.locator("[data-estimate]")).to_have_attribute("data-estimate", "held")
    _shot(page, "overview", WIDE)

    # The jobs CSV: every job, its flags, and a finish time that states its offset.
    name, csv_rows = _download_csv(page, page.get_by_test_id("jobs-csv"))
    assert name.startswith("jobs-") and name.endswith(".csv")
    by_job = {row["job"]: row for row in csv_rows}
    assert set(by_job) == {job.name for job in jobs.values()}
    assert {row["job"]: row["needs_attention"] for row in csv_rows} == {
        jobs["running"].name: "",
        jobs["waiting"].name: "",
        jobs["failed"].name: "failed stalled",
        jobs["late"].name: "late",
        jobs["short"].name: "stalled",
        jobs["paused"].name: "stalled",
        jobs["done"].name: "",
        jobs["held"].name: "held",
    }
    # 600 URLs left at 10 a minute from the minute of now: the last batch 59 minutes on.
    finish = _moment(by_job[jobs["running"].name]["estimated_finish"])
    assert estate.now + timedelta(minutes=58) <= finish <= estate.now + timedelta(minutes=61)
    assert by_job[jobs["short"].name]["estimated_finish"] == ""
    # A batch time fewer for each minute the page comes after the data (a loaded machine: up to 3).
    assert by_job[jobs["short"].name]["urls_without_plan"] in ("245", "250", "255", "260")
    assert by_job[jobs["held"].name]["held_by_incident"] == str(estate.hold.pk)
    assert by_job[jobs["running"].name]["urls_remaining"] == "600"
    assert {row["site_id"] for row in csv_rows} == {str(DEMO_SITE_ID), str(SHOP_SITE_ID)}

    # Only what needs attention: both sites have something (a hold; a failure), so both stay.
    filters = page.get_by_test_id("overview-filters")
    filters.get_by_label("Only what needs attention").check()
    filters.get_by_role("button", name="Show").click()
    page.wait_for_url("**/overview/?*attention=on*")
    expect(reviews).to_have_count(2)
    expect(reviews.nth(0)).to_have_attribute("data-site-review", str(SHOP_SITE_ID))
    expect(page.get_by_test_id("jobs-csv")).to_have_attribute("href", "/exports/jobs.csv?" + _query(page))
    _, flagged = _download_csv(page, page.get_by_test_id("jobs-csv"))
    assert {row["job"] for row in flagged} == {
        jobs[key].name for key in ("failed", "late", "short", "paused", "held")
    }
    assert all(row["needs_attention"] for row in flagged)

    # By name, example.com comes first.
    filters.get_by_label("Order").select_option("name")
    filters.get_by_role("button", name="Show").click()
    page.wait_for_url("**/overview/?*sort=name*")
    expect(reviews.nth(0)).to_have_attribute("data-site-review", str(DEMO_SITE_ID))

    def open_both() -> None:
        for review in reviews.all():
            if review.get_attribute("open") is None:
                review.locator("summary").click()

    _shot(page, "overview", PHONE, prepare=open_both)
    _no_horizontal_overflow(page, PHONE)


# -- the timeline ---------------------------------------------------------------------------------


def test_a_viewer_reads_the_timeline_its_now_line_and_forecast_at_both_widths(
    page: Page, live_server: LiveServer, estate: ReviewEstate
) -> None:
    now = estate.now
    window_start = now - BEFORE
    # Everything but the plan the hold parked a year ahead meets the default window.
    drawn = {key: plan for key, plan in estate.plans.items() if key != "held-parked"}
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    _reads_only(page)

    # One bar per plan, coloured by its status, where its window is.
    svg = page.get_by_test_id("timeline")
    expect(page.locator("#timeline-live")).to_have_attribute("data-bars", str(len(drawn)))
    expect(svg.locator("a[data-plan]")).to_have_count(len(drawn))
    expect(svg.locator(f'a[data-plan="{estate.plans["held-parked"].esa_id}"]')).to_have_count(0)
    for key, plan in drawn.items():
        bar = svg.locator(f'a[data-plan="{plan.esa_id}"]')
        expect(bar, key).to_have_attribute("data-status", plan.status)
        rect = bar.locator("rect.tl-bar")
        expect(rect, key).to_have_class(f"tl-bar {plan.status}")
        assert plan.start_time is not None and plan.end_time is not None
        x, width = _percent(rect.get_attribute("x")), _percent(rect.get_attribute("width"))
        assert x == pytest.approx(100 * ((plan.start_time - window_start) / WINDOW), abs=WHERE), key
        assert width == pytest.approx(100 * ((plan.end_time - plan.start_time) / WINDOW), abs=WHERE), key
        assert plan.job.name in (bar.locator("title").text_content() or ""), key

    # Now is a quarter of the way: 6 hours into a 24-hour window.
    now_line = svg.get_by_test_id("now-line")
    expect(now_line).to_have_count(1)
    assert _percent(now_line.get_attribute("x1")) == pytest.approx(25, abs=1)

    # The forecast: example.com's origin at its busiest; the held shop sends nothing, so no section.
    loads = page.get_by_test_id("load-site")
    expect(loads).to_have_count(1)
    expect(loads).to_have_attribute("data-site", str(DEMO_SITE_ID))
    expect(page.locator(f'[data-testid=load-site][data-site="{SHOP_SITE_ID}"]')).to_have_count(0)
    expect(page.get_by_test_id("load-every-site")).to_have_count(0)
    # Every plan of example.com due to send at the minute of now has URLs left for the next ten
    # minutes (Spring sale, Short window, and Late starter, which fires as soon as ESA starts it).
    sending = [
        plan
        for plan in drawn.values()
        if plan.job.site_id == estate.site.pk
        and plan.status in (PlanStatus.RUNNING, PlanStatus.WAITING)
        and plan.start_time is not None
        and plan.start_time <= now
    ]
    assert {plan.job.name for plan in sending} == {"Spring sale", "Short window", "Late starter"}
    peak = sum(plan.slice_len * 60 // plan.interval for plan in sending)
    assert peak == 25
    expect(loads).to_have_attribute("data-peak", str(peak))
    expect(loads.get_by_test_id("load-peak")).to_have_text(f"{peak} URLs a minute")
    _tick_labels_apart(page)

    # The plans CSV: the same plans, times with their offset.
    name, csv_rows = _download_csv(page, page.get_by_test_id("plans-csv"))
    assert name.startswith("plans-") and name.endswith(".csv")
    by_plan = {row["plan_id"]: row for row in csv_rows}
    assert set(by_plan) == {plan.esa_id for plan in drawn.values()}
    for key, plan in drawn.items():
        row = by_plan[plan.esa_id]
        assert (row["job"], row["status"], row["site_id"]) == (
            plan.job.name,
            plan.status,
            str(plan.job.site.esa_id),
        ), key
        assert (_moment(row["start_time"]), _moment(row["end_time"])) == (plan.start_time, plan.end_time)
    assert float(by_plan[estate.plans["running"].esa_id]["urls_per_minute"]) == 10
    _shot(page, "timeline", WIDE)

    # On a phone: the pictures fit the screen, and the tick labels that show stay apart.
    page.set_viewport_size({"width": PHONE, "height": 900})
    page.reload()
    expect(svg.locator("a[data-plan]")).to_have_count(len(drawn))
    _no_horizontal_overflow(page, PHONE)
    box = svg.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE
    _tick_labels_apart(page)
    _shot(page, "timeline", PHONE)

    # A bar leads to its plan's job: a click shows its facts (issue 20), and they link to the job.
    page.set_viewport_size({"width": WIDE, "height": 900})
    running = estate.plans["running"]
    bar = svg.locator(f'a[data-plan="{running.esa_id}"]')
    bar.hover()
    bar.click()
    page.get_by_test_id("plan-facts").get_by_test_id("plan-facts-job").click()
    page.wait_for_url(f"{live_server.url}/jobs/{running.job.esa_id}/")
    expect(page.get_by_role("heading", name="Spring sale")).to_be_visible()


def test_an_empty_timeline_window_says_so(page: Page, live_server: LiveServer, estate: ReviewEstate) -> None:
    zone = ZoneInfo(settings.PREFETCH_DISPLAY_TIME_ZONE)
    year_ago = (estate.now - timedelta(days=365)).astimezone(zone)
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    filters = page.get_by_test_id("timeline-filters")
    filters.locator("input[name=start]").fill(f"{year_ago:%Y-%m-%dT%H:%M}")
    filters.locator("input[name=end]").fill(f"{year_ago + timedelta(days=1):%Y-%m-%dT%H:%M}")
    filters.get_by_role("button", name="Show").click()
    page.wait_for_url("**/timeline/?*start=*")

    expect(page.get_by_test_id("filter-error")).to_have_count(0)
    expect(page.get_by_test_id("timeline")).to_have_count(0)
    expect(page.get_by_test_id("timeline-empty")).to_contain_text("No plan's window meets")
    expect(page.get_by_test_id("forecast-empty")).to_contain_text("This window has ended")
    expect(page.locator("#timeline-live")).to_have_attribute("data-bars", "0")
    _, csv_rows = _download_csv(page, page.get_by_test_id("plans-csv"))
    assert csv_rows == []
    _shot(page, "timeline-empty", WIDE)
    _shot(page, "timeline-empty", PHONE)
    _no_horizontal_overflow(page, PHONE)


def test_a_held_plan_is_visibly_held_on_the_timeline_and_its_job_page(
    page: Page, live_server: LiveServer, operator: User, viewer: User
) -> None:
    """A plan parked by a hold is drawn hatched where it was meant to run, and its job page says
    which incident holds it (issue 17, point 4)."""
    site = SiteFactory.create(status="active")
    job = JobFactory.create(site=site, name="Winter sale", url_count=100, url_submitted=0)
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=1)
    plan = PlanFactory.create(
        job=job, status=PlanStatus.WAITING, start_time=start, end_time=start + WINDOW / 8
    )
    incident = hold_done(user=operator, site=site)
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)

    page.goto(f"{live_server.url}/timeline/")
    bar = page.locator(f'a[data-plan="{plan.esa_id}"]')
    expect(bar).to_have_attribute("data-status", "held")
    expect(page.locator("text.lane-label", has_text="Winter sale")).to_be_visible()  # its lane stays
    rect = bar.locator("rect")
    assert rect.evaluate("element => getComputedStyle(element).fill") == 'url("#held-hatch")'
    assert abs(_percent(rect.get_attribute("x")) - 100 * (BEFORE + timedelta(hours=1)) / WINDOW) < 2
    expect(rect.locator("title")).to_contain_text(f"held by incident #{incident.pk}")
    _shot(page, "timeline-held", WIDE)

    page.goto(f"{live_server.url}/jobs/{job.esa_id}/")
    row = page.locator(f'tr[data-plan="{plan.esa_id}"]')
    expect(row.get_by_test_id("plan-status")).to_have_text("held")
    expect(row.get_by_test_id("plan-held")).to_contain_text(f"incident #{incident.pk}")
    expect(row.get_by_test_id("plan-parked")).to_be_visible()
    row.get_by_role("link", name=f"incident #{incident.pk}").click()
    page.wait_for_url(f"**/incidents/{incident.pk}/")


# -- the audit log --------------------------------------------------------------------------------


def test_a_viewer_filters_the_audit_log_and_downloads_what_it_shows(
    page: Page, live_server: LiveServer, estate: ReviewEstate, operator: User
) -> None:
    plans: dict[str, Plan] = estate.plans
    OperationFactory.create(
        kind=OperationKind.PLAN_STOP,
        status=OperationStatus.SUCCEEDED,
        plan=plans["paused"],
        requested_by=operator,
        target_label="Paused / plan …0007",
        request_id="OK-REQUEST-1",
    )
    OperationFactory.create(
        kind=OperationKind.PLAN_UPDATE,
        status=OperationStatus.SUCCEEDED,
        plan=plans["waiting"],
        requested_by=operator,
        target_label="Catalogue / plan …0003",
    )
    failed = OperationFactory.create(
        kind=OperationKind.PLAN_START,
        status=OperationStatus.FAILED,
        plan=plans["failed"],
        requested_by=operator,
        target_label="Broken links / plan …0004",
        error_code="InvalidParameter.Domain",
        error_message="invalid domain:test.com",
        request_id="5C6D1F0A-7E2B-4D3C-9A8B-0123456789AB",
    )
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit log").click()
    page.wait_for_url(f"{live_server.url}/audit/")
    _reads_only(page)

    # Three operations and the hold of shop.example.net, newest first.
    log = page.get_by_test_id("audit-log")
    entries = log.locator("tr[data-audit-kind]")
    expect(entries).to_have_count(4)
    expect(log.locator('tr[data-audit-kind="incident_hold"]')).to_contain_text(
        f"Incident #{estate.hold.pk}: hold of shop.example.net"
    )
    expect(log.locator(".op-error")).to_have_count(1)  # a success's RequestId is not shown
    expect(log).not_to_contain_text("OK-REQUEST-1")
    _shot(page, "audit", WIDE)
    _shot(page, "audit", PHONE)
    _no_horizontal_overflow(page, PHONE)
    page.set_viewport_size({"width": WIDE, "height": 900})

    # Failed only: the one row, with ESA's code, message and RequestId.
    filters = page.get_by_test_id("audit-filters")
    filters.get_by_label("Result").select_option("failed")
    filters.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit/?*result=failed*")
    expect(entries).to_have_count(1)
    row = entries.first
    expect(row).to_have_attribute("data-audit-kind", "plan_start")
    expect(row).to_contain_text("Broken links / plan …0004")
    expect(row).to_contain_text(operator.username)
    expect(row).to_contain_text("example.com")
    expect(row.locator(".op-error strong")).to_have_text("InvalidParameter.Domain")
    expect(row).to_contain_text("invalid domain:test.com")
    expect(row).to_contain_text("RequestId 5C6D1F0A-7E2B-4D3C-9A8B-0123456789AB")

    # The CSV has the same filter: the one row, read back.
    expect(page.get_by_test_id("audit-csv")).to_have_attribute("href", "/audit.csv?" + _query(page))
    name, csv_rows = _download_csv(page, page.get_by_test_id("audit-csv"))
    assert name.startswith("audit-") and name.endswith(".csv")
    assert len(csv_rows) == 1
    (line,) = csv_rows
    assert (line["Kind"], line["Result"], line["Who"], line["Site"], line["Site ESA id"]) == (
        "plan_start",
        "failed",
        operator.username,
        "example.com",
        str(DEMO_SITE_ID),
    )
    assert (line["ESA code"], line["ESA message"], line["RequestId"]) == (
        failed.error_code,
        failed.error_message,
        failed.request_id,
    )
    assert line["Target ESA id"] == plans["failed"].esa_id
    assert abs(_moment(line["When"]) - failed.created_at) < timedelta(seconds=1)

    # By kind: the hold alone, and on the CSV too.
    filters.get_by_label("Result").select_option("")
    filters.get_by_label("What").select_option("incident_hold")
    filters.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit/?*kind=incident_hold*")
    expect(entries).to_have_count(1)
    expect(entries.first).to_have_attribute("data-audit-kind", "incident_hold")
    _, holds = _download_csv(page, page.get_by_test_id("audit-csv"))
    assert [(line["Kind"], line["Incident"], line["Site"]) for line in holds] == [
        ("incident_hold", str(estate.hold.pk), "shop.example.net")
    ]

    # Nothing matches: the page says so.
    filters.get_by_label("What").select_option("job_delete")
    filters.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit/?*kind=job_delete*")
    expect(entries).to_have_count(0)
    expect(log).to_contain_text("No operations or incidents match these filters.")
    _shot(page, "audit-empty", PHONE)


def test_a_site_opened_on_the_overview_stays_open_when_the_page_polls(
    page: Page, live_server: LiveServer, estate: ReviewEstate
) -> None:
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/overview/")
    example = page.locator(f'details[data-site-review="{DEMO_SITE_ID}"]')
    example.locator("summary").click()
    expect(example).to_have_attribute("open", "")
    # Plans are running, so the page polls (every 10 s); something changed on a site (as any write
    # there takes its next version), so the poll swaps in a fresh copy of the sites.
    page.evaluate(
        "document.querySelectorAll('details[data-site-review]').forEach(d => { d.dataset.old = 'yes'; })"
    )
    Site.objects.filter(esa_id=DEMO_SITE_ID).update(version=F("version") + 1)
    with page.expect_response(
        lambda response: (
            "/overview/?" in response.url and "poll=1" in response.url and response.status == 200
        ),
        timeout=60_000,
    ):
        pass
    # Swapped: the sites are fresh copies (unmarked), and once settled the one opened is open again.
    expect(page.locator("details[data-site-review][data-old]")).to_have_count(0)
    expect(example).to_have_attribute("open", "")
    expect(page.locator(f'details[data-site-review="{SHOP_SITE_ID}"]')).not_to_have_attribute("open", "")
