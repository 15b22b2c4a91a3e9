"""In a real browser (Debian's Chromium driven by Playwright): the timeline's interactions (issue 20).

A job's overlapping plans side by side in sub-lanes; a click, a tap or Enter on a bar shows the plan's
facts beside it, with a link to its job, and Escape or a click elsewhere closes them; zoom links and
a week view whose days are named; preset labels never cut; every status its own fill.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Browser, FloatRect, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.prefetch.models import Job, Plan, PlanStatus, Site
from tests.accounts import VIEWER, log_in
from tests.browser.test_accessibility import THEMES, axe_violations, violations_text
from tests.esa_changes import esa_says
from tests.factories import JobFactory, PlanFactory, SiteFactory
from tests.holds import hold_done

pytestmark = [pytest.mark.django_db(transaction=True)]

WIDE, PHONE = 1400, 390


def _six_at_once(site: Site) -> tuple[Job, list[Plan]]:
    """A job of six plans, each starting 10 minutes after the last and all ending together."""
    now = timezone.now().replace(second=0, microsecond=0)
    job = JobFactory.create(site=site, name="Six at once", url_count=600, url_submitted=100)
    plans = [
        PlanFactory.create(
            job=job,
            status=PlanStatus.RUNNING if n == 0 else PlanStatus.WAITING,
            start_time=now - timedelta(minutes=30) + timedelta(minutes=10 * n),
            end_time=now + timedelta(hours=3),
        )
        for n in range(6)
    ]
    return job, plans


@pytest.fixture
def six(viewer: User) -> tuple[Job, list[Plan]]:
    return _six_at_once(SiteFactory.create(status="active"))


@pytest.fixture
def axe_page(chromium: Browser) -> Iterator[Page]:
    """A page that lets the axe script in (as tests/browser/test_accessibility.py's does)."""
    context = chromium.new_context(bypass_csp=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def touch_page(chromium: Browser) -> Iterator[Page]:
    """A phone: a touch screen 390 px wide."""
    context = chromium.new_context(has_touch=True, is_mobile=True, viewport={"width": PHONE, "height": 800})
    yield context.new_page()
    context.close()


def _bar(page: Page, plan: Plan) -> Locator:
    return page.locator(f'svg.timeline a[data-plan="{plan.esa_id}"]')


def _box(locator: Locator) -> FloatRect:
    box = locator.bounding_box()
    assert box is not None
    return box


def test_six_overlapping_plans_of_a_job_are_six_bars_one_above_the_other(
    page: Page, live_server: LiveServer, six: tuple[Job, list[Plan]]
) -> None:
    _, plans = six
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    boxes = []
    for plan in plans:
        rect = _bar(page, plan).locator("rect.tl-bar")
        expect(rect).to_be_visible()
        boxes.append(_box(rect))
    boxes.sort(key=lambda box: box["y"])
    for upper, lower in pairwise(boxes):
        assert upper["y"] + upper["height"] <= lower["y"], boxes  # none drawn over another
    expect(page.locator("text.lane-label", has_text="Six at once")).to_contain_text("6 plans, 6 side by side")


def test_a_click_shows_the_plans_facts_beside_its_bar_and_escape_or_a_click_elsewhere_closes_them(
    page: Page, live_server: LiveServer, six: tuple[Job, list[Plan]]
) -> None:
    job, plans = six
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    facts = page.get_by_test_id("plan-facts")
    expect(facts).to_be_hidden()

    bar = _bar(page, plans[2])
    bar.click()
    expect(facts).to_be_visible()
    expect(facts).to_contain_text(f"Plan …{plans[2].short_id}")
    facts_shown = (
        "Six at once",
        job.site.name,
        "waiting",
        "10 URLs every 60 s",
        "100 of 600 submitted",
        "Finish",
    )
    for fact in facts_shown:
        expect(facts).to_contain_text(fact)
    assert page.url == f"{live_server.url}/timeline/"  # in place: the click did not leave the page
    # Beside its bar: just below it, and on the screen.
    rect, panel = _box(bar.locator("rect")), _box(facts)
    assert rect["y"] + rect["height"] <= panel["y"] <= rect["y"] + rect["height"] + 40
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= WIDE

    page.keyboard.press("Escape")
    expect(facts).to_be_hidden()
    expect(bar).to_be_focused()  # back where the keyboard was

    bar.click()
    expect(facts).to_be_visible()
    page.get_by_role("heading", name="Timeline").click()  # anywhere else
    expect(facts).to_be_hidden()

    # Another bar's facts replace the first's; its link leads to the job.
    _bar(page, plans[0]).click()
    expect(facts).to_contain_text(f"Plan …{plans[0].short_id}")
    expect(facts).to_contain_text("running")
    facts.get_by_test_id("plan-facts-job").click()
    page.wait_for_url(f"{live_server.url}/jobs/{job.esa_id}/")


def test_facts_left_open_are_drawn_again_when_a_poll_brings_a_change(
    page: Page, live_server: LiveServer, six: tuple[Job, list[Plan]]
) -> None:
    _, plans = six
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    facts = page.get_by_test_id("plan-facts")
    _bar(page, plans[0]).click()
    expect(facts).to_contain_text("10 URLs every 60 s")
    esa_says(plans[0], slice_len=25)
    with page.expect_response(lambda response: "poll=" in response.url and response.status == 200):
        page.evaluate("htmx.trigger('#timeline-live', 'poll-now')")
    expect(facts).to_contain_text("25 URLs every 60 s")
    expect(facts).to_be_visible()


def test_the_keyboard_reaches_a_bar_and_enter_opens_its_facts(
    page: Page, live_server: LiveServer, six: tuple[Job, list[Plan]]
) -> None:
    _, plans = six
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    bar = _bar(page, plans[0])
    # Tab along the page until the first bar has the focus: bars are in the tab order.
    for _ in range(60):
        page.keyboard.press("Tab")
        if bar.evaluate("element => element === document.activeElement"):
            break
    expect(bar).to_be_focused()
    page.keyboard.press("Enter")
    facts = page.get_by_test_id("plan-facts")
    expect(facts).to_be_visible()
    expect(facts).to_contain_text(f"Plan …{plans[0].short_id}")
    assert page.url == f"{live_server.url}/timeline/"
    page.keyboard.press("Escape")
    expect(facts).to_be_hidden()
    expect(bar).to_be_focused()


def test_a_tap_on_a_phone_shows_the_facts_on_the_screen(
    touch_page: Page, live_server: LiveServer, six: tuple[Job, list[Plan]]
) -> None:
    page = touch_page
    job, plans = six
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    facts = page.get_by_test_id("plan-facts")
    _bar(page, plans[5]).tap()
    expect(facts).to_be_visible()
    expect(facts).to_contain_text(f"Plan …{plans[5].short_id}")
    panel = _box(facts)
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= PHONE  # no sideways scroll to read it
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    facts.get_by_role("button", name="Close").tap()
    expect(facts).to_be_hidden()
    _bar(page, plans[5]).tap()
    facts.get_by_test_id("plan-facts-job").tap()
    page.wait_for_url(f"{live_server.url}/jobs/{job.esa_id}/")


def test_zoom_in_halves_the_window_and_the_address_says_so(
    page: Page, live_server: LiveServer, six: tuple[Job, list[Plan]]
) -> None:
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    start, end = (_typed(page, name) for name in ("start", "end"))
    zoom = page.get_by_test_id("timeline-zoom")
    zoom.get_by_role("link", name="Zoom in").click()
    page.wait_for_url("**/timeline/?*start=*")
    assert "end=" in page.url and "span=" not in page.url
    # 24 hours become 12 around the same centre.
    assert (_typed(page, "start"), _typed(page, "end")) == (
        start + timedelta(hours=6),
        end - timedelta(hours=6),
    )
    expect(_bar(page, six[1][0])).to_have_count(1)
    zoom.get_by_role("link", name="Zoom out").click()
    expect(page.locator("input[name=start]")).to_have_value(f"{start:%Y-%m-%dT%H:%M}")
    assert _typed(page, "end") == end
    zoom.get_by_role("link", name="Later").click()
    expect(page.locator("input[name=start]")).to_have_value(f"{start + timedelta(hours=12):%Y-%m-%dT%H:%M}")


def test_a_mouse_drag_across_the_picture_zooms_into_that_stretch(
    page: Page, live_server: LiveServer, six: tuple[Job, list[Plan]]
) -> None:
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    start, end = (_typed(page, name) for name in ("start", "end"))
    svg = _box(page.get_by_test_id("timeline"))
    # From a quarter to three quarters of the way, along the axis (no bar there).
    y = svg["y"] + 20
    page.mouse.move(svg["x"] + svg["width"] / 4, y)
    page.mouse.down()
    page.mouse.move(svg["x"] + svg["width"] / 2, y, steps=5)
    expect(page.get_by_test_id("timeline-drag")).to_be_visible()  # the stretch shows while dragging
    page.mouse.move(svg["x"] + svg["width"] * 3 / 4, y, steps=5)
    page.mouse.up()
    page.wait_for_url("**/timeline/?*start=*")
    zoomed_start, zoomed_end = (_typed(page, name) for name in ("start", "end"))
    # The middle half of 24 hours, to a few minutes (a pixel is about a minute).
    assert abs(zoomed_start - (start + (end - start) / 4)) <= timedelta(minutes=5)
    assert abs(zoomed_end - (start + (end - start) * 3 / 4)) <= timedelta(minutes=5)


def _typed(page: Page, name: str) -> datetime:
    """The window's start or end as its input shows it."""
    return datetime.strptime(page.locator(f"input[name={name}]").input_value(), "%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("width", [WIDE, PHONE])
def test_the_week_view_names_seven_days_and_every_preset_label_shows_whole(
    page: Page, live_server: LiveServer, six: tuple[Job, list[Plan]], width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    presets = page.locator("nav.presets a")
    expect(presets).to_have_count(5)
    for index in range(5):
        preset = presets.nth(index)
        expect(preset).to_be_visible()
        fits = preset.evaluate(
            "element => element.scrollWidth <= element.clientWidth && element.getClientRects().length === 1"
        )
        assert fits, preset.text_content()

    presets.get_by_text("Last day, next 6 days", exact=True).click()
    page.wait_for_url("**/timeline/?span=week*")
    days = page.locator("svg.timeline text.day-label")
    expect(days).to_have_count(7)
    boxes = sorted((_box(days.nth(index)) for index in range(7)), key=lambda box: box["x"])
    for day, next_day in pairwise(boxes):
        assert day["x"] + day["width"] <= next_day["x"], boxes  # readable: apart
    # The forecast's chart names the same days, and no two labels of a picture run into each other.
    pictures: list[list[list[float]]] = page.evaluate(
        """() => [...document.querySelectorAll("svg")].map(svg =>
            [...svg.querySelectorAll(".tick-label, .day-label")]
              .filter(label => getComputedStyle(label).display !== "none")
              .map(label => label.getBoundingClientRect())
              .map(box => [box.left, box.right, box.top]))"""
    )
    for labels in pictures:
        for row in {top for _, _, top in labels}:
            lined_up = sorted((left, right) for left, right, top in labels if top == row)
            for (_, right), (next_left, _) in pairwise(lined_up):
                assert right <= next_left, lined_up
    hours = page.locator("svg.timeline text.tick-label.hour")
    if width == PHONE:  # too dense for 21 hours: only the days
        assert hours.evaluate_all(
            "labels => labels.every(label => getComputedStyle(label).display === 'none')"
        )
    else:  # every hour's label, but one at a side of the chart (only its line: Tick.at_edge)
        expect(page.locator("svg.timeline text.tick-label.hour:not(.at-edge)").first).to_be_visible()


def test_every_status_is_told_by_its_fill_not_by_its_colour_alone(
    page: Page, live_server: LiveServer, operator: User, viewer: User
) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    site = SiteFactory.create(status="active")
    job = JobFactory.create(site=site, name="Every status", url_count=100, url_submitted=10)
    for status in ("waiting", "running", "finished", "failed", "stopped"):
        PlanFactory.create(job=job, status=status, start_time=now, end_time=now + timedelta(hours=1))
    held_site = SiteFactory.create(esa_id=4242, name="held.example.net", status="active")
    PlanFactory.create(
        job=JobFactory.create(site=held_site, name="Held one"),
        status="waiting",
        start_time=now + timedelta(hours=1),
        end_time=now + timedelta(hours=2),
    )
    hold_done(user=operator, site=held_site)
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/")
    markers = {}
    for status in ("waiting", "running", "finished", "failed", "stopped", "held"):
        rect = page.locator(f'svg.timeline a[data-status="{status}"] rect.tl-bar').first
        expect(rect).to_have_class(f"tl-bar {status}")
        fill = rect.evaluate("element => getComputedStyle(element).fill")
        # What tells it apart once hue is gone: the pattern it is filled with, or a solid fill.
        markers[status] = fill if fill.startswith("url(") else "solid"
        swatch = page.locator(f".legend .swatch.{status}")
        label = swatch.locator("xpath=..")
        expect(label).to_contain_text(status)
    assert len(set(markers.values())) == 6, markers
    assert markers["finished"] == "solid"


def test_the_week_view_with_a_plans_facts_open_passes_axe(
    axe_page: Page, live_server: LiveServer, six: tuple[Job, list[Plan]]
) -> None:
    """Light, then dark on the same page: its media queries follow `emulate_media` without a reload."""
    page = axe_page
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": WIDE, "height": 900})
    log_in(page, live_server.url, VIEWER)
    page.goto(f"{live_server.url}/timeline/?span=week")
    _bar(page, six[1][0]).click()
    expect(page.get_by_test_id("plan-facts")).to_be_visible()
    failures = []
    for theme in THEMES:
        page.emulate_media(color_scheme=theme)  # type: ignore[arg-type]
        violations = axe_violations(page)
        if violations:
            failures.append(f"{theme} theme:\n{violations_text(violations)}")
    assert not failures, "\n\n".join(failures)
