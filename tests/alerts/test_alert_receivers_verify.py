"""Each sender's real payload, signed as it signs, is taken; anything else gets a clear 4xx, holds
nothing, and is listed on the receiver's page with why, never with the token or the secret."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from prefetch_ui.alerts.models import Delivery, ScopeKind
from prefetch_ui.alerts.services.deliveries import BODY_LIMIT
from prefetch_ui.alerts.services.receivers import Credential, receiver_rotate, rule_add
from prefetch_ui.incidents.models import Incident
from prefetch_ui.prefetch.models import Site
from tests.alerts.conftest import PAGERDUTY_SECRET
from tests.alerts.senders import Sent, alertmanager, deliver, grafana, pagerduty, payload, standard

pytestmark = pytest.mark.django_db

Make = Callable[..., Credential]


def _refused(response: object, status: int, code: str) -> None:
    assert response.status_code == status, response.content  # type: ignore[attr-defined]
    answer = response.json()  # type: ignore[attr-defined]
    assert answer["code"] == code
    assert answer["message"]


def test_alertmanager_payload_with_its_bearer_token_holds_the_site(
    make_receiver: Make, anonymous: Client, sites: list[Site]
) -> None:
    credential = make_receiver("alertmanager")
    response = deliver(
        anonymous,
        credential.receiver.slug,
        alertmanager(payload("alertmanager_firing"), token=credential.token),
    )
    assert response.status_code == 200, response.content
    assert response.json()["code"] == "taken"
    incident = Incident.objects.get()
    assert incident.site == sites[0]
    assert incident.held_by_id is None
    assert incident.held_via == f"alert OriginErrors via receiver {credential.receiver.name}"
    # The reason records the alert: name, summary, labels, link.
    assert "Alert OriginErrors: Origin 5xx above 5% for 5 minutes" in incident.reason
    assert "site=example.com" in incident.reason and "severity=page" in incident.reason
    assert "http://prometheus.example.net:9090/graph" in incident.reason


def test_grafana_payload_with_token_and_hmac_holds_what_its_rules_say(
    make_receiver: Make, anonymous: Client, sites: list[Site]
) -> None:
    credential = make_receiver("grafana", rule=False, grafana_hmac=True)
    rule_add(
        receiver=credential.receiver,
        alert_name="High memory usage",
        labels="team=blue",
        scope=ScopeKind.SITE,
        site=sites[1],
    )
    document = payload("grafana_firing")
    sent = grafana(document, token=credential.token, secret=credential.secret, timestamp=int(time.time()))
    response = deliver(anonymous, credential.receiver.slug, sent)
    assert response.status_code == 200, response.content
    actions = response.json()["actions"]
    assert "High memory usage (c6eadffa33fcdf37) holds shop.example.com: opened incident" in actions[0]
    assert actions[1] == "High CPU usage (bc97ff14869b13e3) holds nothing: no rule of the receiver matches it"
    assert list(Incident.objects.values_list("site__name", flat=True)) == ["shop.example.com"]
    # Without the HMAC (or with a wrong one), the token alone is not enough.
    unsigned = grafana(document, token=credential.token)
    _refused(deliver(anonymous, credential.receiver.slug, unsigned), 401, "signature_missing")
    forged = Sent(unsigned.body, {**unsigned.headers, "X-Grafana-Alerting-Signature": "0" * 64})
    _refused(deliver(anonymous, credential.receiver.slug, forged), 401, "signature_invalid")
    stale = grafana(
        document, token=credential.token, secret=credential.secret, timestamp=int(time.time()) - 3600
    )
    _refused(deliver(anonymous, credential.receiver.slug, stale), 401, "timestamp_outside_window")


def test_pagerduty_v3_triggered_and_resolved_signed_by_its_secret(
    make_receiver: Make, anonymous: Client, sites: list[Site]
) -> None:
    credential = make_receiver("pagerduty", rule=False)
    rule_add(
        receiver=credential.receiver,
        alert_name="",
        labels="service=API Service",
        scope=ScopeKind.SITE,
        site=sites[0],
    )
    assert credential.secret == ""  # PagerDuty made it: it is never shown back
    triggered = pagerduty(payload("pagerduty_incident_triggered"), secrets=[PAGERDUTY_SECRET])
    response = deliver(anonymous, credential.receiver.slug, triggered)
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert incident.held_via == f"alert A little bump in the road via receiver {credential.receiver.name}"
    assert "https://acme.pagerduty.com/incidents/PGR0VU2" in incident.reason
    # During PagerDuty's rotation it lists two signatures; one matching is enough.
    resolved = pagerduty(payload("pagerduty_incident_resolved"), secrets=["another-secret", PAGERDUTY_SECRET])
    response = deliver(anonymous, credential.receiver.slug, resolved)
    assert response.status_code == 200, response.content
    assert "resolved: released incident" in response.json()["actions"][0]
    # The same event again: a replay.
    replayed = Sent(resolved.body, resolved.headers)
    _refused(deliver(anonymous, credential.receiver.slug, replayed), 409, "replayed")
    wrong = pagerduty(payload("pagerduty_incident_triggered"), secrets=["not-the-secret"])
    _refused(deliver(anonymous, credential.receiver.slug, wrong), 401, "signature_invalid")
    old = pagerduty(
        payload("pagerduty_incident_triggered"),
        secrets=[PAGERDUTY_SECRET],
        occurred_at=datetime.now(UTC) - timedelta(minutes=10),
    )
    _refused(deliver(anonymous, credential.receiver.slug, old), 401, "timestamp_outside_window")
    assert Incident.objects.count() == 1


def test_standard_webhooks_signed_with_the_library(
    make_receiver: Make, anonymous: Client, sites: list[Site]
) -> None:
    credential = make_receiver("standard")
    assert credential.secret.startswith("whsec_")
    sent = standard(payload("standard_alert_firing"), secret=credential.secret)
    response = deliver(anonymous, credential.receiver.slug, sent)
    assert response.status_code == 200, response.content
    assert Incident.objects.get().site == sites[0]
    _refused(deliver(anonymous, credential.receiver.slug, sent), 409, "replayed")
    late = standard(payload("standard_alert_firing"), secret=credential.secret, timestamp=time.time() - 600)
    _refused(deliver(anonymous, credential.receiver.slug, late), 401, "timestamp_outside_window")
    other = standard(
        payload("standard_alert_firing"), secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    )
    _refused(deliver(anonymous, credential.receiver.slug, other), 401, "signature_invalid")
    missing = Sent(sent.body, {"webhook-id": "msg_1"})
    _refused(deliver(anonymous, credential.receiver.slug, missing), 401, "signature_missing")
    assert Incident.objects.count() == 1


def test_a_rotated_secret_accepts_the_previous_one_for_the_grace_period(
    make_receiver: Make, anonymous: Client
) -> None:
    credential = make_receiver("standard")
    old_secret = credential.secret
    rotated = receiver_rotate(receiver=credential.receiver)
    assert rotated.secret != old_secret
    for secret in (old_secret, rotated.secret):
        sent = standard(payload("standard_alert_resolved"), secret=secret)
        assert deliver(anonymous, credential.receiver.slug, sent).status_code == 200
    # Past the grace period the previous one is refused.
    rotated.receiver.previous_until = datetime.now(UTC) - timedelta(seconds=1)
    rotated.receiver.save()
    sent = standard(payload("standard_alert_resolved"), secret=old_secret)
    _refused(deliver(anonymous, credential.receiver.slug, sent), 401, "signature_invalid")


def test_token_missing_or_wrong_is_refused_and_holds_nothing(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("alertmanager")
    document = payload("alertmanager_firing")
    no_token = Sent(alertmanager(document, token="x").body, {})
    _refused(deliver(anonymous, credential.receiver.slug, no_token), 401, "token_missing")
    _refused(
        deliver(anonymous, credential.receiver.slug, alertmanager(document, token="pfa_wrong")),
        401,
        "token_invalid",
    )
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda doc: doc.update(version="3"), "version"),
        (lambda doc: doc.update(alerts=[]), "alerts"),
        (lambda doc: doc["alerts"][0].pop("fingerprint"), "alerts[0].fingerprint"),
        (lambda doc: doc["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda doc: doc["alerts"][0]["labels"].update(site="a\x00b"), "alerts[0].labels.site"),
    ],
)
def test_a_body_not_in_alertmanagers_format_is_422_naming_what(
    make_receiver: Make, anonymous: Client, change: Callable[[dict[str, object]], object], field: str
) -> None:
    credential = make_receiver("alertmanager")
    document = payload("alertmanager_firing")
    change(document)
    response = deliver(anonymous, credential.receiver.slug, alertmanager(document, token=credential.token))
    _refused(response, 422, "payload_invalid")
    assert response.json()["field"] == field
    assert "Alertmanager" in response.json()["message"]
    assert not Incident.objects.exists()


def test_not_json_and_too_large_bodies(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("alertmanager")
    garbage = Sent(b"<html>not json</html>", {"Authorization": f"Bearer {credential.token}"})
    _refused(deliver(anonymous, credential.receiver.slug, garbage), 422, "payload_invalid")
    huge = Sent(b" " * (BODY_LIMIT + 1), {"Authorization": f"Bearer {credential.token}"})
    response = deliver(anonymous, credential.receiver.slug, huge)
    _refused(response, 413, "too_large")
    assert "1 MiB" in response.json()["message"]
    assert not Incident.objects.exists()


def test_unknown_address_disabled_receiver_and_get(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("alertmanager")
    sent = alertmanager(payload("alertmanager_firing"), token=credential.token)
    _refused(deliver(anonymous, "no-such-receiver", sent), 404, "receiver_unknown")
    _refused(anonymous.get(reverse("alert-hook", args=[credential.receiver.slug])), 405, "method_not_allowed")
    credential.receiver.enabled = False
    credential.receiver.save()
    _refused(deliver(anonymous, credential.receiver.slug, sent), 403, "receiver_disabled")
    assert not Incident.objects.exists()


def test_every_delivery_is_listed_with_why_and_never_the_credential(
    make_receiver: Make, anonymous: Client, operator_client: Client
) -> None:
    credential = make_receiver("alertmanager")
    document = payload("alertmanager_firing")
    deliver(anonymous, credential.receiver.slug, alertmanager(document, token=credential.token))
    deliver(anonymous, credential.receiver.slug, alertmanager(document, token="pfa_wrong-token-value"))
    document["version"] = "3"
    deliver(anonymous, credential.receiver.slug, alertmanager(document, token=credential.token))
    codes = list(Delivery.objects.order_by("id").values_list("status_code", "code"))
    assert codes == [(200, "taken"), (401, "token_invalid"), (422, "payload_invalid")]
    page = operator_client.get(reverse("alert-receiver", args=[credential.receiver.pk])).content.decode()
    assert "token_invalid" in page and "payload_invalid" in page and "holds example.com" in page
    assert credential.token not in page
    assert "pfa_wrong-token-value" not in page


def test_other_pagerduty_events_are_taken_and_do_nothing(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("pagerduty")
    document = payload("pagerduty_incident_triggered")
    document["event"]["event_type"] = "incident.acknowledged"
    response = deliver(anonymous, credential.receiver.slug, pagerduty(document, secrets=[PAGERDUTY_SECRET]))
    assert response.status_code == 200
    assert response.json()["actions"] == ["incident.acknowledged: nothing to do"]
    assert not Incident.objects.exists()


def test_a_standard_envelope_of_another_type_is_422(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("standard")
    document = payload("standard_alert_firing")
    document["type"] = "invoice.paid"
    response = deliver(anonymous, credential.receiver.slug, standard(document, secret=credential.secret))
    _refused(response, 422, "payload_invalid")
    assert response.json()["field"] == "type"


def test_a_nul_in_an_annotation_never_reaches_the_incident(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("alertmanager")
    document = payload("alertmanager_firing")
    document["alerts"][0]["annotations"]["summary"] = "origin\x00 down"
    response = deliver(anonymous, credential.receiver.slug, alertmanager(document, token=credential.token))
    assert response.status_code == 200
    assert "origin down" in Incident.objects.get().reason


def test_old_delivery_ids_and_deliveries_beyond_the_last_kept_are_forgotten(
    make_receiver: Make, anonymous: Client
) -> None:
    from prefetch_ui.alerts.models import SeenDelivery
    from prefetch_ui.alerts.services.deliveries import SEEN_KEEP, deliveries_forget

    credential = make_receiver("standard")
    for _ in range(4):
        deliver(
            anonymous,
            credential.receiver.slug,
            standard(payload("standard_alert_resolved"), secret=credential.secret),
        )
    newest = list(Delivery.objects.order_by("-id").values_list("id", flat=True)[:3])
    deliveries_forget(keep=3)
    assert sorted(Delivery.objects.values_list("id", flat=True)) == sorted(newest)
    assert SeenDelivery.objects.count() == 4
    deliveries_forget(now=datetime.now(UTC) + SEEN_KEEP + timedelta(seconds=1), keep=3)
    assert not SeenDelivery.objects.exists()


def test_no_token_or_secret_reaches_a_log_line(
    make_receiver: Make, anonymous: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    token_receiver = make_receiver("alertmanager")
    signed = make_receiver("standard")
    deliver(
        anonymous,
        token_receiver.receiver.slug,
        alertmanager(payload("alertmanager_firing"), token=token_receiver.token),
    )
    deliver(
        anonymous,
        token_receiver.receiver.slug,
        alertmanager(payload("alertmanager_firing"), token="pfa_guess-0001"),
    )
    deliver(anonymous, signed.receiver.slug, standard(payload("standard_alert_firing"), secret=signed.secret))
    rotated = receiver_rotate(receiver=signed.receiver)
    logged = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert "alert delivery refused" in logged  # the refusal is logged, without what was sent
    for secret in (token_receiver.token, "pfa_guess-0001", signed.secret, rotated.secret):
        assert secret not in logged
    assert "hidden" in repr(rotated) and rotated.secret not in repr(rotated)
