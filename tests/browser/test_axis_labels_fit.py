"""In a real browser at a phone's width: the timeline's time labels stay on the screen whatever the
time of day, even when a tick falls at the very edge of a chart (a label is centred on its tick, so
one at the edge stuck out by half its width: the phone walk failed a few minutes before each tick).
A tick that close to a side keeps its line and not its label."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect
from pytest_django.live_server_helper import LiveServer

from tests.accounts import OPERATOR, log_in
from tests.browser.page_kinds import page_estate_create

pytestmark = [pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}
_LABELS_OUTSIDE = """(width) => [...document.querySelectorAll("svg .tick-label")]
  .filter(label => label.getClientRects().length > 0 && getComputedStyle(label).display !== "none")
  .map(label => [label.textContent, label.getBoundingClientRect()])
  .filter(([text, box]) => box.left < -0.5 || box.right > width + 0.5)
  .map(([text, box]) => [text, Math.round(box.left), Math.round(box.right)])"""


@pytest.mark.parametrize(
    "moment",
    [
        # 02:58 in Asia/Shanghai (the tests' display zone): the load chart's first tick, 03:00, is two
        # minutes from its left edge; and a minute before a day's end.
        datetime(2026, 12, 7, 18, 58, 30, tzinfo=UTC),
        datetime(2026, 12, 7, 15, 59, 30, tzinfo=UTC),
    ],
)
def test_no_axis_label_sticks_out_of_a_phone(
    page: Page, live_server: LiveServer, operator: User, monkeypatch: pytest.MonkeyPatch, moment: datetime
) -> None:
    page_estate_create(operator=operator)
    page.set_viewport_size(PHONE)
    log_in(page, live_server.url, OPERATOR)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    for path in ("/timeline/", "/timeline/?span=week"):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("main")).to_be_visible()
        assert page.evaluate(_LABELS_OUTSIDE, PHONE["width"]) == [], path
