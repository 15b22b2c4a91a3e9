"""In a real browser: the plan builder's date pickers show their whole value, seconds included, on
a desktop and on a phone (and the plan editor's too); the generator shows only the chosen mode's
fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.prefetch.models import Plan
from tests.accounts import OPERATOR, log_in
from tests.factories import JobFactory, PlanFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

WITH_SECONDS = "2031-06-01T07:45:05"

# How wide the input is, and how wide it would be left to fit its value (Chromium sizes a date
# picker of no set width to what it shows). Its scrollWidth says nothing: the text inside is in the
# browser's own shadow tree, which clips it without scrolling.
_WIDTHS = """input => {
  const shown = input.getBoundingClientRect().width;
  const style = input.getAttribute("style");
  input.style.cssText = "width: max-content; min-width: 0; max-width: none";
  const needed = input.getBoundingClientRect().width;
  if (style === null) input.removeAttribute("style"); else input.setAttribute("style", style);
  return [shown, needed];
}"""


@pytest.fixture
def job_id() -> str:
    now = datetime.now(UTC)
    job = JobFactory.create(esa_id="6680aaaaaaaaaaaaaaaaaaaa", name="Pickers", url_count=500)
    PlanFactory.create(
        esa_id="6680bbbbbbbbbbbbbbbbbb01",
        job=job,
        start_time=now + timedelta(days=30),
        end_time=now + timedelta(days=30, hours=1),
    )
    return job.esa_id


def _fits(picker: Locator) -> None:
    picker.fill(WITH_SECONDS)
    shown, needed = picker.evaluate(_WIDTHS)
    assert shown >= needed - 0.5, f"{picker} is {shown:.0f} px wide and its value needs {needed:.0f} px"


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    # Nor inside the page: a table wider than its box hides its last buttons (the builder's Remove).
    hidden = page.evaluate(
        "[...document.querySelectorAll('.table-scroll')]"
        ".filter(box => box.scrollWidth > box.clientWidth).length"
    )
    assert hidden == 0, f"{hidden} table(s) scroll sideways"


@pytest.mark.parametrize("width", [1400, 390])
def test_date_pickers_show_their_seconds(
    page: Page, live_server: LiveServer, operator: User, job_id: str, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/jobs/{job_id}/plans/new/")
    _fits(page.locator("[data-testid=rows] input[name^=start-]").first)
    _fits(page.locator("[data-testid=rows] input[name^=end-]").first)
    page.get_by_text("Generate plans for this job's remaining URLs").click()
    _fits(page.locator("input[name=gen_start]"))
    _fits(page.locator("input[name=gen_end]"))
    page.get_by_label("Finish by a deadline within a rate").check()
    _fits(page.locator("input[name=gen_deadline]"))
    _no_sideways_scroll(page)

    plan = Plan.objects.get(job__esa_id=job_id)
    page.goto(f"{live_server.url}/plans/{plan.esa_id}/edit/")
    _fits(page.locator("input[name=start_time]"))
    _fits(page.locator("input[name=end_time]"))
    _no_sideways_scroll(page)


def test_the_generator_shows_only_the_chosen_modes_fields(
    page: Page, live_server: LiveServer, operator: User, job_id: str
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}/jobs/{job_id}/plans/new/")
    page.get_by_text("Generate plans for this job's remaining URLs").click()
    spread, finish_by = page.get_by_test_id("gen-spread"), page.get_by_test_id("gen-finish-by")
    shared = (page.locator("input[name=gen_start]"), page.locator("input[name=gen_interval]"))
    expect(page.get_by_label("Spread over a window in K plans")).to_be_checked()
    expect(spread).to_be_visible()
    expect(finish_by).to_be_hidden()
    for field in shared:
        expect(field).to_be_visible()

    page.get_by_label("Finish by a deadline within a rate").check()
    expect(finish_by).to_be_visible()
    expect(spread).to_be_hidden()
    for field in shared:
        expect(field).to_be_visible()

    # The builder is drawn again (a row added): the mode chosen, and only its fields, stay.
    page.get_by_role("button", name="Add a plan").click()
    expect(page.locator("[data-testid=rows] tbody tr[data-row]")).to_have_count(2)
    expect(page.get_by_label("Finish by a deadline within a rate")).to_be_checked()
    expect(page.get_by_test_id("gen-finish-by")).to_be_visible()
    expect(page.get_by_test_id("gen-spread")).to_be_hidden()


def test_without_javascript_the_generator_shows_both_modes_each_by_its_name(
    page: Page, live_server: LiveServer, operator: User, job_id: str
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.route("**/static/js/forms.js", lambda route: route.abort())
    page.goto(f"{live_server.url}/jobs/{job_id}/plans/new/")
    page.get_by_text("Generate plans for this job's remaining URLs").click()
    expect(page.get_by_test_id("gen-spread")).to_be_visible()
    expect(page.get_by_test_id("gen-finish-by")).to_be_visible()
    expect(page.get_by_test_id("gen-spread").locator("legend")).to_have_text("Spread over a window")
    expect(page.get_by_test_id("gen-finish-by").locator("legend")).to_have_text("Finish by a deadline")
