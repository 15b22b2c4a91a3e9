"""End to end, with a real Celery worker and the ESA simulator: Alertmanager's firing payload holds
the site in ESA; its "resolved" payload resumes it with the receiver's ramp, as "alert NAME via
receiver R" both times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

from prefetch_ui.alerts.models import AlertHold, ResumeState, ScopeKind
from prefetch_ui.alerts.services.receivers import receiver_create, rule_add
from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import HeldPlan, Incident
from prefetch_ui.prefetch.models import Site
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.alerts.senders import alertmanager, deliver, payload
from tests.polling import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# Work done by the worker: a bound that only stops a broken hold from hanging the run.
WORK_TIMEOUT = 120


def _status() -> str:
    return Incident.objects.get().status


def test_alertmanager_holds_the_site_in_esa_and_its_resolve_resumes_with_the_ramp(
    esa: EsaClient, operator: User
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Night batch", urls=[f"https://example.com/{n}.css" for n in range(60)]
    )
    plans = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start + timedelta(minutes=n), start + timedelta(hours=3), 60, 5) for n in range(3)]
    ).succeeded
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

    response = deliver(
        sender, credential.receiver.slug, alertmanager(payload("alertmanager_firing"), token=credential.token)
    )
    assert response.status_code == 200, response.content
    eventually(lambda: _status() == "held", timeout=WORK_TIMEOUT, failure="the alert's hold never completed")
    incident = Incident.objects.get()
    assert incident.held_via == "alert OriginErrors via receiver am" and incident.held_by_id is None
    assert set(HeldPlan.objects.values_list("plan_esa_id", "hold_outcome")) == {
        (plan.id, "parked") for plan in plans
    }
    parked = {plan.id: plan.start_time for plan in esa.list_scheduled_preload_executions(job.id).items}
    assert all(when is not None and when > start + timedelta(days=300) for when in parked.values())

    response = deliver(
        sender,
        credential.receiver.slug,
        alertmanager(payload("alertmanager_resolved"), token=credential.token),
    )
    assert response.status_code == 200, response.content
    # Sent to the worker after the delivery's commit (no quiet period): it resumes.
    eventually(lambda: _status() == "resumed", timeout=WORK_TIMEOUT, failure="the resolve never resumed")
    incident.refresh_from_db()
    assert incident.resumed_via == "alert OriginErrors via receiver am" and incident.resumed_by_id is None
    assert incident.resume_caps == {str(DEMO_SITE_ID): 30}
    assert AlertHold.objects.get().resume_state == ResumeState.DONE
    back = {plan.id: plan.start_time for plan in esa.list_scheduled_preload_executions(job.id).items}
    assert all(when is not None and when < start + timedelta(days=1) for when in back.values())
