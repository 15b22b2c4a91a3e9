"""The whole incident loop, end to end, with real parts only: Alertmanager's payload arrives → an
incident holds the site on the ESA simulator (a real Celery worker) → a signed webhook (verified by
the `standardwebhooks` library) and an e-mail (a real SMTP server) report it → Alertmanager's
"resolved" payload resumes it with the receiver's ramp → the resume is reported too.

The notification scan and the outbox sweep, which the beat runs in production, are run by the test
in its wait loop.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django import Settings

from prefetch_ui.alerts.models import AlertHold, ResumeState, ScopeKind
from prefetch_ui.alerts.services.receivers import receiver_create, rule_add
from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import HeldPlan, Incident
from prefetch_ui.notifications.models import ChannelKind, EventKind
from prefetch_ui.notifications.services.channels import channel_create
from prefetch_ui.notifications.services.outbox import deliveries_sweep
from prefetch_ui.notifications.services.scan import notifications_scan
from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.alerts.senders import alertmanager, deliver, payload
from tests.notifications.receivers import smtp_receiver, standard_webhooks_receiver
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# A bound that only stops a broken loop from hanging the run.
WORK_TIMEOUT = 120
EVENTS: list[str] = [EventKind.HOLD_OPENED, EventKind.HOLD_COMPLETED, EventKind.HOLD_RESUMED]
WHO = "alert OriginErrors via receiver am"


def _told(received: list[dict[str, Any]], mailbox: list[Any], kind: str) -> bool:
    """Scan and sweep as the beat would, then whether `kind` reached both the webhook and the mailbox."""
    notifications_scan()
    deliveries_sweep()
    return any(got["payload"]["type"] == kind for got in received) and any(
        message["X-Prefetch-Event"] == kind for message in mailbox
    )


def test_an_alert_holds_reports_resolves_and_resumes_with_the_ramp(
    esa: EsaClient, operator: User, settings: Settings
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Night batch", urls=[f"https://example.com/{n}.css" for n in range(60)]
    )
    plans = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start + timedelta(minutes=n), start + timedelta(hours=3), 60, 5) for n in range(3)]
    ).succeeded
    originals = {plan.id: plan.start_time for plan in plans}
    esa_sync(client=esa)
    site = Site.objects.get(esa_id=DEMO_SITE_ID)
    credential = receiver_create(
        user=operator, name="am", kind="alertmanager", on_resolved="resume", resume_cap=30
    )
    rule_add(
        receiver=credential.receiver,
        alert_name="OriginErrors",
        labels="",
        scope=ScopeKind.LABEL,
        site_label="site",
        allowed_sites=[site],
    )
    sender = Client(enforce_csrf_checks=True)
    with smtp_receiver() as (smtp_port, mailbox):
        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": smtp_port, "timeout": 10},
            }
        }
        settings.DEFAULT_FROM_EMAIL = "prefetch@example.com"
        channel_create(
            user=operator,
            name="on-call e-mail",
            kind=ChannelKind.EMAIL,
            recipients="oncall@example.com",
            events=EVENTS,
            sites=[site],
        )
        secrets: list[str] = []  # the receiver's: the one the channel makes, once it is made
        with standard_webhooks_receiver(secrets) as (url, received):
            _, secret = channel_create(
                user=operator, name="incident bot", kind=ChannelKind.WEBHOOK, url=url, events=EVENTS, sites=[]
            )
            secrets.append(secret)

            firing = deliver(
                sender,
                credential.receiver.slug,
                alertmanager(payload("alertmanager_firing"), token=credential.token),
            )
            assert firing.status_code == 200, firing.content
            eventually(
                lambda: _told(received.accepted, mailbox, EventKind.HOLD_COMPLETED),
                timeout=WORK_TIMEOUT,
                failure="the hold was never reported completed",
            )
            incident = Incident.objects.get()
            assert incident.held_via == WHO and incident.held_by_id is None
            assert set(HeldPlan.objects.values_list("plan_esa_id", "hold_outcome")) == {
                (plan.id, "parked") for plan in plans
            }
            parked = {
                plan.id: plan.start_time for plan in esa.list_scheduled_preload_executions(job.id).items
            }
            assert all(when is not None and when > start + timedelta(days=300) for when in parked.values())

            resolved = deliver(
                sender,
                credential.receiver.slug,
                alertmanager(payload("alertmanager_resolved"), token=credential.token),
            )
            assert resolved.status_code == 200, resolved.content
            eventually(
                lambda: _told(received.accepted, mailbox, EventKind.HOLD_RESUMED),
                timeout=WORK_TIMEOUT,
                failure="the resume was never reported",
            )
    incident.refresh_from_db()
    assert incident.status in ("resuming", "resumed")
    assert incident.resumed_via == WHO and incident.resumed_by_id is None
    assert incident.resume_caps == {str(DEMO_SITE_ID): 30}
    # Every webhook verified by the standardwebhooks library, in the order things happened, each once.
    assert [got["payload"]["type"] for got in received.accepted] == [str(kind) for kind in EVENTS]
    assert received.refused == []
    opened = received.accepted[0]["payload"]["data"]
    assert opened["by"] == WHO and opened["site"] == "example.com"
    assert [message["X-Prefetch-Event"] for message in mailbox] == [str(kind) for kind in EVENTS]
    assert mailbox[0]["Subject"] == "[prefetch_ui] Hold of example.com opened"
    assert f"By: {WHO}".encode() in mailbox[0].get_payload(decode=True)
    # The resume put the plans back (as scheduled, ramped from the cap: within their own day).
    eventually(
        lambda: Incident.objects.get().status == "resumed", timeout=WORK_TIMEOUT, failure="never resumed"
    )
    assert AlertHold.objects.get().resume_state == ResumeState.DONE
    back = {plan.id: plan.start_time for plan in esa.list_scheduled_preload_executions(job.id).items}
    assert back.keys() == originals.keys()
    assert all(when is not None and when < start + timedelta(days=1) for when in back.values())
