"""The templates: no inline script or style (a strict Content-Security-Policy must be possible),
one confirmation mechanism, a favicon, and error pages in the dashboard's own layout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from prefetch_ui.prefetch.models import Site

TEMPLATES = sorted(Path(settings.BASE_DIR, "templates").rglob("*.html"))
# An attribute that runs script (onclick=, onsubmit=, …) or sets style.
_INLINE = re.compile(r"\s(on[a-z]+|style)\s*=", re.IGNORECASE)
# A <script> without src: inline script.
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_no_inline_script_or_style(template: Path) -> None:
    text = template.read_text()
    assert not _INLINE.findall(text), f"{template.name}: inline handler or style"
    assert not _INLINE_SCRIPT.search(text), f"{template.name}: inline <script>"
    assert not re.search(r"<style\b", text, re.IGNORECASE), f"{template.name}: inline <style>"
    assert "confirm(" not in text, f"{template.name}: confirm() instead of hx-confirm"
    # {# … #} is one line only: one spread over lines is not a comment but text on the page.
    assert not re.search(r"\{#(?:(?!#\}).)*\n", text, re.DOTALL), f"{template.name}: a {{# #}} on lines"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_pages_poll_only_as_often_as_the_server_says_and_not_while_hidden(template: Path) -> None:
    text = template.read_text()
    assert not re.search(r"(?<!poll_)every \d", text), (
        f"{template.name}: an interval of its own, not {{% poll_every %}}"
    )
    for match in re.finditer(r"\{% poll_every", text):
        element = text[text.rindex("<", 0, match.start()) : match.start()]
        assert "data-poll" in element, f"{template.name}: polls without data-poll (static/js/app.js)"


@pytest.mark.django_db
def test_pages_link_the_favicon_and_favicon_ico_leads_to_it(client: Client, operator_client: Client) -> None:
    assert client.get("/favicon.ico")["Location"] == "/static/favicon.svg"  # even before logging in
    assert (
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        in operator_client.get("/").content.decode()
    )


@pytest.mark.django_db
def test_a_viewer_who_tries_to_act_gets_a_page_that_says_why(site: Site, viewer_client: Client) -> None:
    response = viewer_client.get(reverse("job-new", args=[site.esa_id]))
    page = response.content.decode()
    assert response.status_code == 403
    assert 'class="topbar"' in page  # the dashboard's layout, not a bare page
    assert "This account may only read" in page
    assert "add <strong>vic</strong> to the <strong>Operators</strong> group" in page


@pytest.mark.django_db
def test_a_missing_page_has_the_layout_too(operator_client: Client) -> None:
    response = operator_client.get("/sites/1/")
    assert response.status_code == 404
    assert 'class="topbar"' in response.content.decode() and "Nothing here" in response.content.decode()


@pytest.mark.django_db
def test_pages_as_served_carry_no_inline_style_or_script(site: Site, operator_client: Client) -> None:
    for url in ("/", reverse("site-detail", args=[site.esa_id]), reverse("job-new", args=[site.esa_id])):
        page = operator_client.get(url).content.decode()
        assert not _INLINE.findall(page), url
        assert not _INLINE_SCRIPT.search(page), url
        assert "<style" not in page, url
        # htmx would add its own <style> element for its indicators unless told not to, and evaluate
        # expressions (which the policy refuses: no 'unsafe-eval').
        config = re.search(r"""<meta name="htmx-config" content='([^']*)'>""", page)
        assert config is not None, url
        assert json.loads(config.group(1)) == {
            "includeIndicatorStyles": False,
            "allowEval": False,
            "allowScriptTags": False,
        }
