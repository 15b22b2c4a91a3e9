"""Headers for the browser and the caches on the way: the Content-Security-Policy on every response,
and Cache-Control on those for a logged-in user."""

from __future__ import annotations

import pytest
from django.http.response import HttpResponseBase
from django.test import Client
from django.urls import reverse

from prefetch_ui.prefetch.models import Site

pytestmark = pytest.mark.django_db

# The policy as served: the same on every response (no nonce: nothing inline needs one).
POLICY = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"


def _policy(client: Client, url: str, headers: dict[str, str] | None = None) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    policy: str = response["Content-Security-Policy"]
    return policy


def test_every_kind_of_response_carries_the_policy(
    client: Client, operator_client: Client, site: Site
) -> None:
    policies = [
        _policy(client, reverse("login")),
        _policy(client, "/healthz"),
        _policy(operator_client, "/"),
        _policy(operator_client, reverse("site-detail", args=[site.esa_id])),
        # An htmx fragment: the page's policy applies to what it swaps in, but the header costs nothing.
        _policy(operator_client, reverse("site-detail", args=[site.esa_id]), {"HX-Request": "true"}),
    ]

    assert policies == [POLICY] * len(policies)


# -- Cache-Control --------------------------------------------------------------------------------------


def _cache_control(response: HttpResponseBase) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def test_whatever_a_logged_in_user_is_sent_no_shared_cache_keeps(operator_client: Client, site: Site) -> None:
    site_page = reverse("site-detail", args=[site.esa_id])
    responses = [
        operator_client.get("/"),
        operator_client.get(site_page),
        operator_client.get(site_page, headers={"HX-Request": "true"}),  # a polled fragment
        operator_client.get(reverse("audit-csv")),  # a download
        operator_client.get("/sites/1/"),  # a 404 too
    ]

    for response in responses:
        assert {"private", "no-store"} <= _cache_control(response), response
        assert "public" not in _cache_control(response)


def test_anonymous_responses_are_left_to_their_views(client: Client) -> None:
    # The probes say nothing about caching; Django's login view says never to cache it.
    assert _cache_control(client.get("/healthz")) == set()
    assert {"private", "no-store", "no-cache"} <= _cache_control(client.get(reverse("login")))
