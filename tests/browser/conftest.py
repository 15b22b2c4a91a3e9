"""What every browser test shares beyond tests/conftest.py's Chromium and pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, expect

# How long `expect(...)` waits for a page to show something. Playwright's 5 s default is a measure of
# speed on a 2-core machine busy with other work (a page drawn by the live server, a poll answered);
# this only stops a broken page from hanging the run: a passing check returns as soon as it holds.
expect.set_options(timeout=30_000)


# Added before any page's own script: what the Content-Security-Policy refused (an inline style or
# script, an eval, a resource from elsewhere) and what htmx was told not to eval, handed to the test.
LISTEN = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportProblem(`${location.pathname}: the policy refused ${event.blockedURI || "inline code"}`
    + ` (${event.effectiveDirective}) at ${event.sourceFile}:${event.lineNumber} ${event.sample}`);
});
document.addEventListener("htmx:evalDisallowedError", (event) => {
  window.reportProblem(`${location.pathname}: htmx wanted eval on ${event.target.outerHTML.slice(0, 120)}`);
});
"""


@pytest.fixture
def problems(page: Page) -> list[str]:
    """What the policy refused, what htmx could not eval, and every console error or uncaught exception."""
    found: list[str] = []

    def report(problem: str) -> None:
        found.append(problem)

    page.expose_function("reportProblem", report)
    page.add_init_script(LISTEN)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            found.append(f"console: {message.text} ({message.location})")

    def uncaught(error: Error) -> None:
        found.append(f"uncaught: {error}")

    page.on("console", console)
    page.on("pageerror", uncaught)
    return found
