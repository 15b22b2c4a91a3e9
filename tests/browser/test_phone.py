"""In a real browser (Debian's Chromium driven by Playwright): every kind of page at a phone's width
(390 px) fits it: the page never scrolls sideways, and every link, button and field is within the
screen without scrolling anything sideways. The job page's plans read as one card a plan, each
window on at most two lines; the overview's site cards show that they open.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, ViewportSize, expect
from pytest_django.live_server_helper import LiveServer

from tests.accounts import OPERATOR, log_in
from tests.browser.page_kinds import PAGE_KINDS, PageEstate, page_estate_create

pytestmark = [pytest.mark.django_db(transaction=True)]

PHONE = 390
PHONE_SCREEN: ViewportSize = {"width": PHONE, "height": 844}
# The plans table's columns, each cell labelled with its column's name on a phone.
PLAN_COLUMNS = ["Plan", "Status", "Window", "Interval", "Batch size", "Actions"]

# Every control a person can see, with where it is: [description, left, right].
_CONTROLS_OUTSIDE = """(width) => [...document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary")]
  .filter(element => element.getClientRects().length > 0 && getComputedStyle(element).visibility !== "hidden")
  .filter(element => !element.closest("[hidden], .default-action"))
  .map(element => [element, element.getBoundingClientRect()])
  .filter(([element, box]) => box.left < -0.5 || box.right > width + 0.5)
  .map(([element, box]) => [
    element.outerHTML.slice(0, 120), Math.round(box.left), Math.round(box.right)])"""

# Every element that sticks out of the screen, sideways.
_ELEMENTS_OUTSIDE = """(width) => [...document.body.querySelectorAll("*")]
  .filter(element => element.getClientRects().length > 0)
  .filter(element => !element.closest("[hidden], .default-action"))
  .map(element => [element, element.getBoundingClientRect()])
  .filter(([element, box]) => box.width > 0 && (box.left < -0.5 || box.right > width + 0.5))
  .map(([element, box]) => [
    element.tagName + "." + element.className, Math.round(box.left), Math.round(box.right)])"""


@pytest.fixture
def estate(operator: User) -> PageEstate:
    return page_estate_create(operator=operator)


def test_every_page_kind_fits_a_phone_with_every_control_on_screen(
    page: Page, chromium: Browser, live_server: LiveServer, estate: PageEstate
) -> None:
    """Each kind of page loaded once at a phone's width, with one estate and one login for all of
    them; the job page's and the overview's own phone checks are made on that same load. What does
    not fit is collected for every kind and reported together, each under its page kind."""
    page.set_viewport_size(PHONE_SCREEN)
    log_in(page, live_server.url, OPERATOR)
    anonymous = chromium.new_context(viewport=PHONE_SCREEN).new_page()
    failures: dict[str, dict[str, object]] = {}
    try:
        for kind in PAGE_KINDS:
            on = page if kind.logged_in else anonymous
            on.goto(f"{live_server.url}{kind.path(estate)}")
            expect(on.locator("main")).to_be_visible()
            if kind.name == "job":
                _the_job_page_shows_each_plan_as_a_card_with_every_action_on_screen(on, estate)
            if kind.name == "overview":
                _the_overview_cards_show_that_they_open(on)
            # Cards open on the overview: what they hold must fit too.
            for card in on.locator("details.review").all():
                if card.get_attribute("open") is None:
                    card.locator("summary").click()
            found: dict[str, object] = {}
            scroll_width = on.evaluate("document.documentElement.scrollWidth")
            if not scroll_width <= PHONE:
                found["page scrolls sideways, its width"] = scroll_width
            for what, script in (("controls", _CONTROLS_OUTSIDE), ("elements", _ELEMENTS_OUTSIDE)):
                outside = on.evaluate(script, PHONE)
                if outside != []:
                    found[f"{what} off the screen"] = outside
            if found:
                failures[kind.name] = found
    finally:
        anonymous.context.close()
    assert failures == {}, "\n".join(f"{name} page: {found}" for name, found in failures.items())


def _the_job_page_shows_each_plan_as_a_card_with_every_action_on_screen(
    page: Page, estate: PageEstate
) -> None:
    rows = page.locator("table.plans tbody tr")
    expect(rows).to_have_count(len(estate.every_plans))
    for row in rows.all():
        # Each cell says what it is, as the column's heading would (hidden on a phone).
        for cell, label in zip(row.locator("td").all(), PLAN_COLUMNS, strict=True):
            expect(cell).to_have_attribute("data-label", label)
        for control in row.locator("button, a[href]").all():
            box = control.bounding_box()
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE, control.inner_html()
        # A window is read at a glance: start and end on two lines at most.
        window = row.get_by_test_id("plan-window")
        lines = window.evaluate("element => element.getClientRects().length")
        assert 1 <= lines <= 2
    # No sideways scroll inside the table either.
    table_box = page.locator("table.plans").bounding_box()
    assert table_box is not None and table_box["x"] + table_box["width"] <= PHONE


def _the_overview_cards_show_that_they_open(page: Page) -> None:
    summary = page.locator("details.review > summary").first
    expect(summary).to_be_visible()
    marker = "element => getComputedStyle(element, '::before').content"
    closed = summary.evaluate(marker)
    assert closed not in ("none", "normal", '""')
    summary.click()
    expect(page.locator("details.review").first).to_have_attribute("open", "")
    assert summary.evaluate(marker) not in (closed, "none", "normal", '""')
