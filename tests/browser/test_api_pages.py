"""The API's pages in a real browser under the Content-Security-Policy as served: the docs page
draws the API's operations from the schema, and the tokens page makes a token and revokes it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.accounts import OPERATOR, log_in
from tests.core.test_security_headers import POLICY

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_the_docs_page_lists_the_operations_under_the_policy(
    page: Page, live_server: LiveServer, problems: list[str]
) -> None:
    response = page.goto(f"{live_server.url}/api/v1/docs")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == POLICY
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    # The read and, beside it, the write of the same path (GET and POST), each listed once.
    for method in ("get", "post"):
        path = page.locator(
            f".opblock-{method} .opblock-summary-path", has_text="/api/v1/jobs/{job_id}/plans"
        )
        expect(path).to_have_count(1)
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert problems == []


def test_a_token_made_on_its_page_is_shown_once_and_revoked_there(
    page: Page, live_server: LiveServer, operator: User, problems: list[str]
) -> None:
    log_in(page, live_server.url, OPERATOR)
    page.get_by_test_id("api-tokens").click()
    page.get_by_role("textbox", name="Name").fill("alertmanager")
    page.get_by_label("read: sites, jobs, plans, operations").check()
    page.get_by_test_id("token-create").click()
    secret = page.get_by_test_id("token-secret")
    expect(secret).to_contain_text("pfu_")
    token = secret.inner_text()
    page.goto(f"{live_server.url}/api/tokens/")
    expect(page.get_by_test_id("token-row")).to_have_count(1)
    assert token not in page.content()
    page.get_by_test_id("token-revoke").click()
    expect(page.get_by_test_id("token-row")).to_contain_text("revoked")
    assert problems == []
