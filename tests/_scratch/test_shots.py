from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser
from pytest_django.live_server_helper import LiveServer

from tests.accounts import OPERATOR, log_in
from tests.browser.page_kinds import PAGE_KINDS, page_estate_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_shots(chromium: Browser, live_server: LiveServer, operator: User) -> None:
    estate = page_estate_create(operator=operator)
    for scheme, width in (("light", 1400), ("dark", 1400), ("light", 390)):
        context = chromium.new_context(color_scheme=scheme, viewport={"width": width, "height": 900})
        page = context.new_page()
        log_in(page, live_server.url, OPERATOR)
        for kind in PAGE_KINDS:
            if kind.name not in ("job", "overview", "timeline", "plan builder", "site"):
                continue
            page.goto(live_server.url + kind.path(estate))
            page.wait_for_load_state()
            page.screenshot(path=f"/tmp/shots/{kind.name.replace(' ', '-')}-{scheme}-{width}.png", full_page=True)
        context.close()
