"""Many deliveries at once, repeating a few fingerprints, against the live server's threads: one
incident per fingerprint and no 5xx (the small version of `bench/alerts.py`; it asserts no time)."""

from __future__ import annotations

import random
import threading

import httpx
import pytest
from django.contrib.auth.models import User
from django.db import connection
from pytest_django.live_server_helper import LiveServer

from prefetch_ui.alerts.models import AlertHold, Delivery, ScopeKind
from prefetch_ui.alerts.services.receivers import receiver_create, rule_add
from prefetch_ui.incidents.models import Incident, IncidentHolder
from tests.alerts.senders import alertmanager, payload
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

FINGERPRINTS = 4
THREADS = 6
DELIVERIES_EACH = 8


def test_concurrent_deliveries_open_one_incident_per_fingerprint(
    live_server: LiveServer, operator: User
) -> None:
    sites = [
        SiteFactory.create(esa_id=7_200_000 + index, name=f"site{index}.example.com")
        for index in range(FINGERPRINTS)
    ]
    credential = receiver_create(user=operator, name="am-load", kind="alertmanager")
    rule_add(
        receiver=credential.receiver,
        alert_name="",
        labels="",
        scope=ScopeKind.LABEL,
        site_label="site",
        allowed_sites=sites,
    )
    url = f"{live_server.url}/hooks/{credential.receiver.slug}/"
    statuses: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def sender(seed: int) -> None:
        chooser = random.Random(seed)
        try:
            with httpx.Client(timeout=60) as client:
                start.wait(timeout=60)
                for _ in range(DELIVERIES_EACH):
                    index = chooser.randrange(FINGERPRINTS)
                    document = payload("alertmanager_firing")
                    alert = document["alerts"][0]
                    alert["fingerprint"] = f"fp-{index}"
                    alert["labels"]["site"] = f"site{index}.example.com"
                    sent = alertmanager(document, token=credential.token)
                    response = client.post(
                        url, content=sent.body, headers={**sent.headers, "Content-Type": "application/json"}
                    )
                    statuses.append(response.status_code)
        except BaseException as error:  # reported by the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    assert statuses and set(statuses) == {200}, statuses
    assert len(statuses) == THREADS * DELIVERIES_EACH
    fired = set(AlertHold.objects.values_list("fingerprint", flat=True))
    assert Incident.objects.count() == len(fired)
    for fingerprint in fired:
        hold = AlertHold.objects.get(fingerprint=fingerprint)
        assert IncidentHolder.objects.filter(incident=hold.incident).count() == 1
    assert sum(AlertHold.objects.values_list("fire_count", flat=True)) == len(statuses)
    assert Delivery.objects.filter(code="taken").count() == len(statuses)
