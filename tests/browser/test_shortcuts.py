"""In a real browser: the keyboard shortcuts (static/js/shortcuts.js). `?` shows the sheet, a dialog
that takes the focus and gives it back when Escape closes it; "g" then a letter goes to a section;
"/" puts the cursor in the filters; "n" and "p" turn the page of a list; and none of them fires
while someone types in a field, nor with Ctrl held."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.prefetch.models import Job, Site
from tests.accounts import OPERATOR, log_in
from tests.esa_changes import job_of_plans

pytestmark = pytest.mark.django_db(transaction=True)


def _navigations(page: Page) -> list[str]:
    """The URLs the page goes to from now on, in order (a list the page keeps adding to)."""
    went: list[str] = []
    page.on("framenavigated", lambda frame: went.append(frame.url) if frame == page.main_frame else None)
    return went


@pytest.fixture
def job(site: Site) -> Job:
    """A job of two pages of plans (100 a page)."""
    return job_of_plans(150, site=site, url_count=1500)


def test_question_mark_opens_the_sheet_and_escape_closes_it_giving_the_focus_back(
    page: Page, live_server: LiveServer, operator: User, site: Site, tmp_path: Path
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}{reverse('audit')}")
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_hidden()
    brand = page.locator("a.brand")
    brand.focus()
    page.keyboard.press("?")
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text("Go to the timeline")
    expect(page.get_by_test_id("shortcuts-close")).to_be_focused()
    page.screenshot(path=str(tmp_path / "shortcuts.png"))
    page.keyboard.press("g")  # the sheet is open: no shortcut runs behind it
    page.keyboard.press("t")
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    expect(brand).to_be_focused()
    assert page.url.endswith(reverse("audit"))


def test_g_then_a_letter_goes_to_a_section(
    page: Page, live_server: LiveServer, operator: User, site: Site
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}{reverse('audit')}")
    page.keyboard.press("g")
    page.keyboard.press("o")
    expect(page).to_have_url(re.compile(re.escape(reverse("overview")) + "$"))
    page.wait_for_load_state()  # its scripts too: keys pressed before them would go unheard
    page.keyboard.press("g")
    page.keyboard.press("i")
    expect(page).to_have_url(re.compile(re.escape(reverse("incident-list")) + "$"))
    page.wait_for_load_state()
    went = _navigations(page)
    page.keyboard.press("Control+g")  # the browser's own, not a shortcut's first key
    page.keyboard.press("s")
    page.keyboard.press("g")
    page.keyboard.press("t")
    expect(page).to_have_url(re.compile(re.escape(reverse("timeline")) + "$"))
    assert went == [f"{live_server.url}{reverse('timeline')}"]  # not home on the way


def test_typing_the_keys_in_the_filter_types_them_and_goes_nowhere(
    page: Page, live_server: LiveServer, operator: User, site: Site
) -> None:
    log_in(page, live_server.url, OPERATOR)
    here = f"{live_server.url}{reverse('site-detail', args=[site.esa_id])}"
    page.goto(here)
    went = _navigations(page)
    page.keyboard.press("/")
    name = page.locator("main form.filters input[name=name]")
    expect(name).to_be_focused()
    page.keyboard.type("gsgo?np")
    expect(name).to_have_value("gsgo?np")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    # Out of the field, the same keys are shortcuts again.
    name.blur()
    page.keyboard.press("g")
    page.keyboard.press("s")
    expect(page).to_have_url(f"{live_server.url}{reverse('home')}")
    assert went == [f"{live_server.url}{reverse('home')}"]  # typed in the field, the keys went nowhere


def test_n_and_p_turn_the_page_of_a_list(
    page: Page, live_server: LiveServer, operator: User, job: Job
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}{reverse('job-detail', args=[job.esa_id])}")
    expect(page.locator(".pager")).to_contain_text("Page 1 of 2")
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"[?&]page=2$"))
    expect(page.locator(".pager")).to_contain_text("Page 2 of 2")
    page.wait_for_load_state()
    page.keyboard.press("p")
    expect(page).to_have_url(re.compile(r"[?&]page=1$"))
    expect(page.locator(".pager")).to_contain_text("Page 1 of 2")


def test_the_headers_shortcuts_link_opens_the_sheet_for_those_who_do_not_know_the_question_mark(
    page: Page, live_server: LiveServer, operator: User, site: Site
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}{reverse('overview')}")
    page.wait_for_load_state()
    opener = page.get_by_test_id("shortcuts-open")
    expect(opener).to_be_visible()
    opener.click()
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_visible()
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    expect(opener).to_be_focused()
