"""The receiver pages: operators make, change, rotate and disable receivers and their rules; anyone
else is refused; a token or secret is shown once, at creation or rotation, never again."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from prefetch_ui.alerts.models import Receiver, ReceiverRule
from prefetch_ui.prefetch.models import Site
from tests.alerts.conftest import PAGERDUTY_SECRET
from tests.alerts.senders import alertmanager, deliver, payload

pytestmark = pytest.mark.django_db


def _create(client: Client, **fields: object) -> object:
    data = {
        "name": "am prod",
        "kind": "alertmanager",
        "on_resolved": "resume",
        "resume_cap": "120",
        "quiet_minutes": "5",
    }
    data.update({key: str(value) for key, value in fields.items()})
    return client.post(reverse("alert-receiver-new"), data)


def test_only_operators_see_or_change_receivers(viewer_client: Client, operator_client: Client) -> None:
    assert viewer_client.get(reverse("alert-receivers")).status_code == 403
    assert viewer_client.post(reverse("alert-receiver-new"), {"name": "x"}).status_code == 403
    assert not Receiver.objects.exists()
    assert operator_client.get(reverse("alert-receivers")).status_code == 200
    incidents = operator_client.get(reverse("incident-list")).content.decode()
    assert reverse("alert-receivers") in incidents


def test_the_token_is_shown_once_with_the_address_and_works(
    operator_client: Client, anonymous: Client, sites: list[Site]
) -> None:
    response = _create(operator_client)
    assert response.status_code == 201  # type: ignore[attr-defined]
    page = response.content.decode()  # type: ignore[attr-defined]
    receiver = Receiver.objects.get()
    token = page.split('data-testid="receiver-token">')[1].split("<")[0]
    assert token.startswith("pfa_")
    assert f"/hooks/{receiver.slug}/" in page
    assert token not in receiver.token_hash
    again = operator_client.get(reverse("alert-receiver", args=[receiver.pk])).content.decode()
    assert token not in again and "receiver-token" not in again
    operator_client.post(
        reverse("alert-rule-add", args=[receiver.pk]),
        {"scope": "label", "site_label": "site", "allowed_sites": [sites[0].pk]},
    )
    response = deliver(anonymous, receiver.slug, alertmanager(payload("alertmanager_firing"), token=token))
    assert response.status_code == 200
    assert (
        "holds example.com"
        in operator_client.get(reverse("alert-receiver", args=[receiver.pk])).content.decode()
    )


def test_bad_settings_are_refused_with_the_field_named(operator_client: Client) -> None:
    response = _create(operator_client, kind="pagerduty")  # no secret pasted
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "Paste the signing secret PagerDuty showed" in response.content.decode()  # type: ignore[attr-defined]
    response = _create(operator_client, kind="standard", secret="not-a-whsec")
    assert "whsec_" in response.content.decode()  # type: ignore[attr-defined]
    response = _create(operator_client, resume_cap="0")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert not Receiver.objects.exists()


def test_a_pagerduty_secret_is_never_shown_back(operator_client: Client) -> None:
    response = _create(operator_client, kind="pagerduty", secret=PAGERDUTY_SECRET)
    assert response.status_code == 201  # type: ignore[attr-defined]
    assert PAGERDUTY_SECRET not in response.content.decode()  # type: ignore[attr-defined]
    receiver = Receiver.objects.get()
    assert receiver.secret == PAGERDUTY_SECRET
    rotated = operator_client.post(
        reverse("alert-receiver-rotate", args=[receiver.pk]), {"secret": "pd-new-secret"}
    )
    assert (
        "pd-new-secret" not in rotated.content.decode() and PAGERDUTY_SECRET not in rotated.content.decode()
    )
    receiver.refresh_from_db()
    assert (receiver.secret, receiver.previous_secret) == ("pd-new-secret", PAGERDUTY_SECRET)


def test_rules_are_added_checked_and_removed(operator_client: Client, sites: list[Site]) -> None:
    _create(operator_client)
    receiver = Receiver.objects.get()
    url = reverse("alert-rule-add", args=[receiver.pk])
    refused = operator_client.post(url, {"scope": "label", "site_label": "site"})
    assert refused.status_code == 400
    assert "Choose the sites an alert&#x27;s label may name." in refused.content.decode()
    refused = operator_client.post(url, {"scope": "site", "labels": "severity"})
    assert "name=value" in refused.content.decode()
    assert (
        operator_client.post(
            url,
            {"scope": "site", "site": sites[1].pk, "alert_name": "OriginErrors", "labels": "severity=page"},
        ).status_code
        == 302
    )
    rule = ReceiverRule.objects.get()
    assert (rule.alert_name, rule.labels, rule.site) == ("OriginErrors", {"severity": "page"}, sites[1])
    page = operator_client.get(reverse("alert-receiver", args=[receiver.pk])).content.decode()
    assert "severity=page" in page and "shop.example.com" in page
    operator_client.post(reverse("alert-rule-remove", args=[receiver.pk, rule.pk]))
    assert not ReceiverRule.objects.exists()


def test_edit_and_disable(operator_client: Client, anonymous: Client) -> None:
    response = _create(operator_client)
    token = response.content.decode().split('data-testid="receiver-token">')[1].split("<")[0]  # type: ignore[attr-defined]
    receiver = Receiver.objects.get()
    edited = operator_client.post(
        reverse("alert-receiver-edit", args=[receiver.pk]),
        {
            "name": "am staging",
            "on_resolved": "nothing",
            "quiet_minutes": "0",
            "dry_run": "on",
            "enabled": "on",
        },
    )
    assert edited.status_code == 302
    receiver.refresh_from_db()
    assert (receiver.name, receiver.on_resolved, receiver.dry_run) == ("am staging", "nothing", True)
    operator_client.post(reverse("alert-receiver-disable", args=[receiver.pk]))
    receiver.refresh_from_db()
    assert not receiver.enabled
    response = deliver(anonymous, receiver.slug, alertmanager(payload("alertmanager_firing"), token=token))
    assert response.status_code == 403
