"""In every order of firings, resolves, people's holds and resumes, and sweeps: a resolved alert never
resumes an incident that a person also holds, or that another alert still holds; and once the last
holder of a held incident has let go, the sweep resumes it.

A Hypothesis `RuleBasedStateMachine` drives the real services (the alerts' and the incidents') in
this thread. The holds' work is done by a rule of its own (`apply`), so that resumes also meet
holds still being applied.
"""

from __future__ import annotations

import contextlib
from typing import ClassVar

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from prefetch_ui.alerts.models import AlertHold, Receiver
from prefetch_ui.alerts.payloads import AlertEvent
from prefetch_ui.alerts.services.holds import alert_fire, alert_resolve, alert_resume_try, alert_resumes_due
from prefetch_ui.alerts.services.receivers import receiver_create
from prefetch_ui.alerts.services.scopes import Scope
from prefetch_ui.incidents.models import Incident, IncidentHolder, IncidentStatus
from prefetch_ui.incidents.services.holds import hold_prepare, hold_request
from prefetch_ui.incidents.services.resumes import IncidentStateError, resume_request
from prefetch_ui.prefetch.models import Site
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

# Two alerts of one site, one of every site.
FINGERPRINTS = ("site-a", "site-b", "every")


class AlertHolds(RuleBasedStateMachine):
    operator: ClassVar[User]
    site: ClassVar[Site]
    receiver: ClassVar[Receiver]

    def _alert(self, fingerprint: str, status: str) -> AlertEvent:
        return AlertEvent(status=status, fingerprint=fingerprint, name=f"Alert-{fingerprint}", labels={})

    def _scope(self, fingerprint: str) -> Scope:
        return Scope(every=True) if fingerprint == "every" else Scope(site=self.site)

    @rule(fingerprint=st.sampled_from(FINGERPRINTS))
    def fire(self, fingerprint: str) -> None:
        alert_fire(
            receiver=self.receiver, alert=self._alert(fingerprint, "firing"), scope=self._scope(fingerprint)
        )

    @rule(data=st.data(), swept=st.booleans())
    def resolve(self, data: st.DataObject, swept: bool) -> None:
        """Mostly an alert that fires (a resolve of one that does not is rarer, and does nothing)."""
        firing = sorted(
            AlertHold.objects.filter(released_at__isnull=True).values_list("fingerprint", flat=True)
        )
        fingerprint = data.draw(st.sampled_from(firing or FINGERPRINTS) | st.sampled_from(FINGERPRINTS))
        alert_resolve(receiver=self.receiver, alert=self._alert(fingerprint, "resolved"))
        if swept:  # the beat's sweep comes at once, or later (another step may come first)
            self.sweep()

    @rule(every=st.booleans())
    def person_holds(self, every: bool) -> None:
        hold_request(user=self.operator, site=None if every else self.site, reason="by hand")

    @rule(swept=st.booleans())
    def apply(self, swept: bool) -> None:
        """The workers finish every hold being applied (these sites have no plans)."""
        holding = Incident.objects.filter(status=IncidentStatus.HOLDING)
        for incident_id in holding.values_list("pk", flat=True):
            hold_prepare(incident_id=incident_id)
            Incident.objects.filter(pk=incident_id).update(status=IncidentStatus.HELD)
        if swept:
            self.sweep()

    @rule(data=st.data())
    def person_resumes(self, data: st.DataObject) -> None:
        held = list(Incident.objects.filter(status=IncidentStatus.HELD).order_by("pk"))
        if held:
            incident = data.draw(st.sampled_from(held))
            with contextlib.suppress(IncidentStateError):
                resume_request(user=self.operator, incident=incident, reschedule=True)

    @rule()
    def sweep(self) -> None:
        for alert_hold_id in alert_resumes_due():
            alert_resume_try(alert_hold_id=alert_hold_id)
        # Liveness: a held incident whose every holder has let go was resumed by the sweep.
        for incident in Incident.objects.filter(status=IncidentStatus.HELD):
            holders = IncidentHolder.objects.filter(incident=incident)
            if holders.exists() and not holders.filter(released_at__isnull=True).exists():
                raise AssertionError(f"incident #{incident.pk}: every holder let go, and it is still held")

    @invariant()
    def resumed_by_an_alert_only_when_no_one_else_held(self) -> None:
        for incident in Incident.objects.filter(resumed_via__startswith="alert "):
            for holder in IncidentHolder.objects.filter(incident=incident):
                who = holder.via or "a person"
                assert holder.key, f"incident #{incident.pk} resumed by an alert while {who} held it"
                assert holder.released_at is not None, f"incident #{incident.pk} resumed while {who} held it"
                assert incident.resume_requested_at is not None
                assert holder.released_at <= incident.resume_requested_at

    @invariant()
    def one_open_hold_per_alert(self) -> None:
        for fingerprint in FINGERPRINTS:
            assert AlertHold.objects.filter(fingerprint=fingerprint, released_at__isnull=True).count() <= 1

    def teardown(self) -> None:
        AlertHold.objects.all().delete()
        Incident.objects.all().delete()


def test_a_resolved_alert_never_resumes_what_others_still_hold(operator: User) -> None:
    AlertHolds.operator = operator
    AlertHolds.site = SiteFactory.create(esa_id=7_100_001, name="alerts.example.com")
    SiteFactory.create(esa_id=7_100_002, name="other.example.com")
    AlertHolds.receiver = receiver_create(
        user=operator, name="am", kind="alertmanager", on_resolved="resume"
    ).receiver
    run_state_machine_as_test(
        AlertHolds,
        settings=settings(
            max_examples=120,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
