"""Headers every response carries for the browser: the Content-Security-Policy."""

from __future__ import annotations

import pytest
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
