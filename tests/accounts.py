"""The two people the tests act as, and how one of them logs in to a real browser page."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page, expect


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str


# Olga may act (she is in the operators group); Vic may only look.
OPERATOR = Login("olga", "operator-pass-123")
VIEWER = Login("vic", "viewer-pass-123")


def log_in(page: Page, base_url: str, login: Login) -> None:
    """Log in through the login form, as a person would, and wait for the sites page behind it."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", login.username)
    page.fill("input[name=password]", login.password)
    page.click("button[type=submit], input[type=submit]")
    expect(page.get_by_role("heading", name="Sites")).to_be_visible()
