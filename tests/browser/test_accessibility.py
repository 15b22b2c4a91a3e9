"""In a real browser (Debian's Chromium driven by Playwright): every kind of page passes axe-core's
WCAG 2.1 AA rules, in the light theme and in the dark one that follows `prefers-color-scheme`.

axe-core runs inside the page from the file `make install` fetched from npm (pinned by version and
sha512 in the Makefile): nothing is fetched while the tests run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.accounts import OPERATOR, log_in
from tests.browser.page_kinds import PAGE_KINDS, PageEstate, page_estate_create

pytestmark = [pytest.mark.django_db(transaction=True)]

# Where the Makefile's `axe` step (part of `make install`) unpacks axe-core, inside the venv.
AXE_JS = Path(sys.prefix) / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
THEMES = ["light", "dark"]

_AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map(violation => ({
    id: violation.id,
    impact: violation.impact,
    help: violation.help,
    nodes: violation.nodes.map(node => ({target: node.target.join(" "), summary: node.failureSummary})),
  }));
}"""


@pytest.fixture
def estate(operator: User) -> PageEstate:
    return page_estate_create(operator=operator)


@pytest.fixture
def axe_page(chromium: Browser) -> Iterator[Page]:
    """A page whose Content-Security-Policy does not stop the axe script this test adds to it (the
    policy is the product's; tests/browser/test_content_security_policy.py checks it)."""
    context = chromium.new_context(bypass_csp=True)
    yield context.new_page()
    context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 AA violations on the page as it shows now."""
    assert AXE_JS.is_file(), f"{AXE_JS} is missing: `make install` fetches it (the Makefile's axe step)"
    # Once a page load: a second run on the same page (the other theme) reuses it.
    if page.evaluate("typeof window.axe") == "undefined":
        page.add_script_tag(path=str(AXE_JS))
    violations: list[dict[str, Any]] = page.evaluate(_AXE_RUN, WCAG_21_AA)
    return violations


def violations_text(violations: list[dict[str, Any]]) -> str:
    """One paragraph a rule: what it asks, then each element that breaks it and why."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            summary = " ".join(str(node["summary"]).split())
            lines.append(f"    {node['target']}: {summary}")
    return "\n".join(lines)


def test_every_page_kind_passes_axe_wcag_21_aa_in_both_themes(
    axe_page: Page, chromium: Browser, live_server: LiveServer, estate: PageEstate
) -> None:
    """Each kind of page loaded once, axe run in the light theme, then in the dark one on the same page
    (its media queries follow `emulate_media` without a reload): one estate and one login for all
    sixteen kinds, every violation of every kind and theme collected and reported together."""
    log_in(axe_page, live_server.url, OPERATOR)
    anonymous = chromium.new_context(bypass_csp=True).new_page()
    failures: list[str] = []
    try:
        for kind in PAGE_KINDS:
            page = axe_page if kind.logged_in else anonymous
            page.emulate_media(color_scheme="light")
            page.goto(f"{live_server.url}{kind.path(estate)}")
            expect(page.locator("main")).to_be_visible()
            for theme in THEMES:
                page.emulate_media(color_scheme=theme)  # type: ignore[arg-type]
                violations = axe_violations(page)
                if violations:
                    failures.append(f"{kind.name} page, {theme} theme:\n{violations_text(violations)}")
    finally:
        anonymous.context.close()
    assert not failures, "\n\n".join(failures)


def test_the_dark_theme_follows_prefers_color_scheme(axe_page: Page, live_server: LiveServer) -> None:
    axe_page.emulate_media(color_scheme="light")
    axe_page.goto(f"{live_server.url}/accounts/login/")
    expect(axe_page.locator("h1")).to_be_visible()
    light = axe_page.evaluate("getComputedStyle(document.body).backgroundColor")
    light_text = axe_page.evaluate("getComputedStyle(document.body).color")
    axe_page.emulate_media(color_scheme="dark")
    dark = axe_page.evaluate("getComputedStyle(document.body).backgroundColor")
    dark_text = axe_page.evaluate("getComputedStyle(document.body).color")
    assert light != dark
    assert light_text != dark_text
    # The dark theme is dark: its background darker than its text.
    assert _luminance(dark) < _luminance(dark_text)
    assert _luminance(light) > _luminance(light_text)


def _luminance(css_colour: str) -> float:
    """Roughly how light an `rgb(r, g, b)` colour is, 0 to 255."""
    red, green, blue = (float(part) for part in css_colour[css_colour.index("(") + 1 : -1].split(",")[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
