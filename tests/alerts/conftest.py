"""Receivers of every kind, as an operator makes them on the page (through the same service)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from prefetch_ui.alerts.models import ScopeKind
from prefetch_ui.alerts.services.receivers import Credential, receiver_create, rule_add
from prefetch_ui.prefetch.models import Site
from tests.factories import SiteFactory

PAGERDUTY_SECRET = "pd-subscription-secret-0123456789abcdef"  # a test's own


@pytest.fixture
def sites(db: None) -> list[Site]:
    """Three sites; an alert may name only those a rule allows."""
    return [
        SiteFactory.create(esa_id=7_000_001, name="example.com"),
        SiteFactory.create(esa_id=7_000_002, name="shop.example.com"),
        SiteFactory.create(esa_id=7_000_003, name="static.example.com"),
    ]


@pytest.fixture
def anonymous() -> Client:
    """The sender: no login, and CSRF checked as a browser's would be."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def make_receiver(operator: User, sites: list[Site]) -> Callable[..., Credential]:
    """A receiver of `kind` whose rule holds the site an alert's `site` label names, among the first
    two sites (the third is never allowed)."""

    def make(kind: str, *, rule: bool = True, **settings: Any) -> Credential:
        if kind == "pagerduty":
            settings.setdefault("secret", PAGERDUTY_SECRET)
        credential = receiver_create(
            user=operator, name=f"{kind}-{len(sites)}-{id(settings)}", kind=kind, **settings
        )
        if rule:
            rule_add(
                receiver=credential.receiver,
                alert_name="",
                labels="",
                scope=ScopeKind.LABEL,
                site_label="site",
                allowed_sites=sites[:2],
            )
        return credential

    return make
