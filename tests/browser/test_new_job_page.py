"""In a real browser (Debian's Chromium driven by Playwright): a new job, its URLs checked first."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import FilePayload, Page, expect
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.prefetch.models import Job, Operation
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.accounts import OPERATOR, log_in
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_an_operator_checks_a_file_then_creates_the_job(
    page: Page, live_server: LiveServer, operator: User, esa: EsaClient, tmp_path: Path
) -> None:
    esa_sync(client=esa)
    log_in(page, live_server.url, OPERATOR)
    page.goto(f"{live_server.url}{reverse('site-detail', args=[DEMO_SITE_ID])}")
    page.get_by_test_id("new-job").click()
    expect(page.get_by_role("heading", name="New job on example.com")).to_be_visible()

    page.fill("textarea[name=urls_text]", "https://example.com/typed-but-not-chosen")
    listed = "https://example.com/路径\nftp://example.com/x\nhttps://cdn.example.com/a.js\n"
    page.locator("#url-file").set_input_files(
        FilePayload(name="urls.txt", mimeType="text/plain", buffer=listed.encode())
    )
    expect(page.locator("input[name=source][value=file]")).to_be_checked()  # choosing the file chose it
    page.evaluate("window.__samePage = true")
    page.get_by_test_id("check").click()
    report = page.get_by_test_id("url-report")
    expect(report.get_by_test_id("url-counts")).to_contain_text("2 valid URLs")
    expect(report.get_by_test_id("url-counts")).to_contain_text("1 rejected line")
    expect(report.get_by_test_id("rejected")).to_contain_text("Only http and https URLs can be prefetched")
    # Nothing typed or chosen was lost.
    expect(page.locator("textarea[name=urls_text]")).to_have_value("https://example.com/typed-but-not-chosen")
    assert page.evaluate("document.getElementById('url-file').files.length") == 1
    page.screenshot(path=str(tmp_path / "checked.png"), full_page=True)

    page.fill("input[name=name]", "   ")  # passes the browser's `required`, not the server
    page.get_by_test_id("create").click()
    expect(page.get_by_test_id("name-error")).to_have_text("Give the job a name.")
    assert page.evaluate("document.getElementById('url-file').files.length") == 1  # hx-preserve
    assert page.evaluate("window.__samePage") is True
    assert Operation.objects.count() == 0

    page.fill("input[name=name]", "<b>Browser</b> job")
    page.get_by_test_id("create").click()
    page.wait_for_url(f"{live_server.url}{reverse('site-detail', args=[DEMO_SITE_ID])}")
    expect(page.locator(".messages")).to_contain_text("Creating job “<b>Browser</b> job” with 2 URLs")
    eventually(lambda: Job.objects.filter(name="<b>Browser</b> job").exists())
    page.reload()
    expect(page.get_by_role("link", name="<b>Browser</b> job")).to_be_visible()
    page.screenshot(path=str(tmp_path / "site.png"), full_page=True)
