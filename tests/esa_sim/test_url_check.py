"""The simulator refuses a URL as ESA does: not http(s), non-ASCII, any whitespace, or another domain."""

from __future__ import annotations

import pytest

from prefetch_ui.esa_sim.jobs import check_urls


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a b",
        "https://example.com/a\tb",
        "https://example.com/a\x1cb",  # an information separator: whitespace to str.isspace
        "https://example.com/a\u00a0b",  # a no-break space
        "https://example.com/caf\u00e9",
        "ftp://example.com/a",
        "https:///a",
    ],
)
def test_a_url_esa_would_refuse_is_flagged_and_listed(url: str) -> None:
    flags, domains, errors = check_urls([url, "https://cdn.example.com/ok"], "example.com")
    assert flags == "01"
    assert domains == ["cdn.example.com"]
    assert errors == [f"invalid url:{url}"]


def test_another_domain_is_listed_once() -> None:
    flags, domains, errors = check_urls(
        ["https://example.org/a", "https://EXAMPLE.org/b", "https://example.com/c"], "example.com"
    )
    assert (flags, domains, errors) == ("001", ["example.com"], ["invalid domain:example.org"])
