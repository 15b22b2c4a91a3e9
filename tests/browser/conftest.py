"""What every browser test shares beyond tests/conftest.py's Chromium and pages."""

from __future__ import annotations

from playwright.sync_api import expect

# How long `expect(...)` waits for a page to show something. Playwright's 5 s default is a measure of
# speed on a 2-core machine busy with other work (a page drawn by the live server, a poll answered);
# this only stops a broken page from hanging the run: a passing check returns as soon as it holds.
expect.set_options(timeout=30_000)
