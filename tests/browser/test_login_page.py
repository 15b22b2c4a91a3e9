"""In a real browser (Debian's Chromium driven by Playwright): someone who keeps mistyping a password is
told, on the login page, that logins are refused for a while and for how long."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django import Settings
from pytest_django.live_server_helper import LiveServer

from tests.accounts import OPERATOR

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_too_many_wrong_passwords_are_throttled_and_the_page_says_so(
    page: Page, live_server: LiveServer, settings: Settings
) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user(OPERATOR.username, password=OPERATOR.password)
    page.goto(f"{live_server.url}/accounts/login/")

    for attempt in range(1, 4):
        page.fill("input[name=username]", OPERATOR.username)
        page.fill("input[name=password]", f"not-it-{attempt}")
        with page.expect_response(f"{live_server.url}/accounts/login/") as answer:
            page.get_by_role("button", name="Log in").click()
        if attempt < 3:
            expect(page.locator(".errors")).to_contain_text("Please enter a correct username and password")

    assert answer.value.status == 429
    throttle = page.get_by_role("alert")
    expect(throttle).to_have_text(
        "Too many failed logins for this account or from this address: try again in 15 minutes."
    )
    # The right password now changes nothing: the form comes back with the same words.
    expect(page.locator("input[name=username]")).to_have_value(OPERATOR.username)
    page.fill("input[name=password]", OPERATOR.password)
    with page.expect_response(f"{live_server.url}/accounts/login/") as answer:
        page.get_by_role("button", name="Log in").click()
    assert answer.value.status == 429
    expect(throttle).to_be_visible()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
