"""ListSites: the name search (exact unless told otherwise, as the SDK documents) and its pages."""

from __future__ import annotations

import pytest

from prefetch_ui.esa import EsaClient, EsaInvalidParameterError
from prefetch_ui.esa_sim import SEED_SITES
from prefetch_ui.esa_sim.testing import RunningSimulator


def _names(esa: EsaClient, name: str, search_type: str | None = None) -> list[str]:
    page = esa.list_sites(site_name=name, site_search_type=search_type)
    assert page.total_count == len(page.items)
    return [site.site_name for site in page.items]


def test_a_site_name_is_matched_exactly_unless_told_otherwise(esa_client: EsaClient) -> None:
    assert _names(esa_client, "example") == []
    assert _names(esa_client, "example.com") == ["example.com"]
    assert _names(esa_client, "example.com", "exact") == ["example.com"]
    assert _names(esa_client, "shop", "prefix") == ["shop.example.net"]
    assert _names(esa_client, ".org", "suffix") == ["static.example.org"]
    assert sorted(_names(esa_client, "example", "fuzzy")) == sorted(site.site_name for site in SEED_SITES)


def test_an_unknown_search_type_is_refused(esa_client: EsaClient) -> None:
    with pytest.raises(EsaInvalidParameterError) as refused:
        esa_client.list_sites(site_name="example", site_search_type="regex")
    assert refused.value.code == "InvalidParameter" and "SiteSearchType" in refused.value.message


def test_pages_hold_exactly_page_size_sites_and_the_total(
    sim: RunningSimulator, esa_client: EsaClient
) -> None:
    added = [sim.simulator.add_site(f"site{index:03d}.example.dev") for index in range(600)]
    total = len(SEED_SITES) + len(added)

    first = esa_client.list_sites(page_number=1, page_size=500)
    second = esa_client.list_sites(page_number=2, page_size=500)
    beyond = esa_client.list_sites(page_number=3, page_size=500)
    assert (len(first.items), len(second.items), len(beyond.items)) == (500, total - 500, 0)
    assert first.total_count == second.total_count == beyond.total_count == total
    assert (first.page_number, first.page_size, second.page_number) == (1, 500, 2)
    assert {site.site_id for site in first.items}.isdisjoint(site.site_id for site in second.items)

    small = [esa_client.list_sites(page_number=number, page_size=7) for number in (1, 2)]
    assert [len(page.items) for page in small] == [7, 7]
    assert all(page.total_count == total for page in small)
    assert len({site.site_id for site in esa_client.iter_sites(page_size=250)}) == total


def test_page_size_is_bounded_as_documented(esa_client: EsaClient) -> None:
    for size in (0, 501):
        with pytest.raises(EsaInvalidParameterError):
            esa_client.list_sites(page_size=size)
