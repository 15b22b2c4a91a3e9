"""What firing and resolved alerts do to incidents: one incident per fingerprint however often it
fires, never more than the rules' scope, and a resolve that resumes only what no one else holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from prefetch_ui.alerts.models import AlertHold, Delivery, ResumeState, ScopeKind
from prefetch_ui.alerts.services.holds import alert_fire, alert_resolve, alert_resume_try
from prefetch_ui.alerts.services.receivers import Credential, rule_add
from prefetch_ui.alerts.services.scopes import Scope
from prefetch_ui.alerts.tasks import alerts_sweep_task
from prefetch_ui.incidents.models import Incident, IncidentHolder, IncidentStatus
from prefetch_ui.incidents.services.holds import hold_prepare, hold_request
from prefetch_ui.prefetch.models import Site
from tests.alerts.senders import alertmanager, deliver, payload

pytestmark = pytest.mark.django_db

Make = Callable[..., Credential]


def _applied(incident_id: int) -> None:
    """The hold's work done, as the workers would (these sites have no plans): it is held."""
    hold_prepare(incident_id=incident_id)
    Incident.objects.filter(pk=incident_id).update(status=IncidentStatus.HELD)


def _firing(
    fingerprint: str = "8c3c0fa49c8b27f2", site: str = "example.com", status: str = "firing"
) -> dict[str, object]:
    document = payload("alertmanager_firing")
    alert = document["alerts"][0]
    alert["fingerprint"], alert["status"] = fingerprint, status
    alert["labels"]["site"] = site
    return document


def test_an_alert_repeated_opens_one_incident(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("alertmanager")
    for _ in range(5):  # Alertmanager repeats every repeat_interval
        response = deliver(
            anonymous, credential.receiver.slug, alertmanager(_firing(), token=credential.token)
        )
        assert response.status_code == 200
    assert Incident.objects.count() == 1
    hold = AlertHold.objects.get()
    assert hold.fire_count == 5
    assert hold.key == f"alert:{credential.receiver.pk}:8c3c0fa49c8b27f2"
    assert list(IncidentHolder.objects.values_list("key", flat=True)) == [hold.key]
    assert "fires again: already held by it" in Delivery.objects.order_by("-id").first().actions[0]  # type: ignore[union-attr]


def test_a_receiver_never_holds_more_than_its_rules_allow(
    make_receiver: Make, anonymous: Client, sites: list[Site]
) -> None:
    credential = make_receiver("alertmanager")
    # The label names a site the rule does not allow: nothing is held.
    response = deliver(
        anonymous,
        credential.receiver.slug,
        alertmanager(_firing(site="static.example.com"), token=credential.token),
    )
    assert response.status_code == 200
    assert "is not among the rule's allowed sites" in response.json()["actions"][0]
    assert not Incident.objects.exists()
    # A rule of one site holds that site, whatever the label says.
    other = make_receiver("alertmanager", rule=False)
    rule_add(
        receiver=other.receiver,
        alert_name="OriginErrors",
        labels="severity=page",
        scope=ScopeKind.SITE,
        site=sites[1],
    )
    deliver(anonymous, other.receiver.slug, alertmanager(_firing(site="example.com"), token=other.token))
    assert list(Incident.objects.values_list("site__name", flat=True)) == ["shop.example.com"]
    # An alert no rule matches holds nothing.
    document = _firing(fingerprint="ffff")
    document["alerts"][0]["labels"]["severity"] = "ticket"  # type: ignore[index]
    response = deliver(anonymous, other.receiver.slug, alertmanager(document, token=other.token))
    assert response.json()["actions"] == [
        "OriginErrors (ffff) holds nothing: no rule of the receiver matches it"
    ]
    assert Incident.objects.count() == 1


def test_a_rule_of_every_site_holds_every_site(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("alertmanager", rule=False)
    rule_add(receiver=credential.receiver, alert_name="OriginErrors", labels="", scope=ScopeKind.EVERY)
    deliver(anonymous, credential.receiver.slug, alertmanager(_firing(), token=credential.token))
    assert Incident.objects.get().site is None


def test_resolved_resumes_with_the_ramp_when_no_one_else_holds(
    make_receiver: Make, anonymous: Client
) -> None:
    credential = make_receiver("alertmanager", on_resolved="resume", resume_cap=120)
    deliver(anonymous, credential.receiver.slug, alertmanager(_firing(), token=credential.token))
    incident = Incident.objects.get()
    _applied(incident.pk)
    deliver(
        anonymous, credential.receiver.slug, alertmanager(_firing(status="resolved"), token=credential.token)
    )
    hold = AlertHold.objects.get()
    assert hold.released_at is not None and hold.resume_state == ResumeState.PENDING
    assert IncidentHolder.objects.get().released_at is not None
    alert_resume_try(alert_hold_id=hold.pk)
    incident.refresh_from_db()
    assert incident.status in (IncidentStatus.RESUMING, IncidentStatus.RESUMED)
    assert incident.resumed_by_id is None
    assert incident.resumed_via == f"alert OriginErrors via receiver {credential.receiver.name}"
    assert AlertHold.objects.get().resume_state == ResumeState.DONE


def test_resolved_never_resumes_what_a_person_also_holds(
    make_receiver: Make, anonymous: Client, operator: User, sites: list[Site]
) -> None:
    credential = make_receiver("alertmanager", on_resolved="resume")
    deliver(anonymous, credential.receiver.slug, alertmanager(_firing(), token=credential.token))
    incident, new = hold_request(user=operator, site=sites[0], reason="I hold it too")
    assert not new
    _applied(incident.pk)
    deliver(
        anonymous, credential.receiver.slug, alertmanager(_firing(status="resolved"), token=credential.token)
    )
    alert_resume_try(alert_hold_id=AlertHold.objects.get().pk)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.HELD
    hold = AlertHold.objects.get()
    assert hold.resume_state == ResumeState.SKIPPED
    assert operator.get_username() in hold.resume_note


def test_the_last_of_two_alerts_to_resolve_resumes(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("alertmanager", on_resolved="resume")
    for fingerprint in ("aaaa", "bbbb"):
        deliver(
            anonymous, credential.receiver.slug, alertmanager(_firing(fingerprint), token=credential.token)
        )
    incident = Incident.objects.get()
    _applied(incident.pk)
    deliver(
        anonymous,
        credential.receiver.slug,
        alertmanager(_firing("aaaa", status="resolved"), token=credential.token),
    )
    alerts_sweep_task()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.HELD
    assert AlertHold.objects.get(fingerprint="aaaa").resume_state == ResumeState.SKIPPED
    deliver(
        anonymous,
        credential.receiver.slug,
        alertmanager(_firing("bbbb", status="resolved"), token=credential.token),
    )
    alerts_sweep_task()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESUMING
    assert AlertHold.objects.get(fingerprint="bbbb").resume_state == ResumeState.DONE


def test_a_firing_during_the_quiet_period_cancels_the_resume(
    make_receiver: Make, anonymous: Client, sites: list[Site]
) -> None:
    credential = make_receiver("alertmanager", on_resolved="resume", quiet_minutes=10)
    deliver(anonymous, credential.receiver.slug, alertmanager(_firing(), token=credential.token))
    incident = Incident.objects.get()
    _applied(incident.pk)
    deliver(
        anonymous, credential.receiver.slug, alertmanager(_firing(status="resolved"), token=credential.token)
    )
    first = AlertHold.objects.get()
    # Not due yet: nothing happens.
    assert alert_resume_try(alert_hold_id=first.pk) == ""
    deliver(anonymous, credential.receiver.slug, alertmanager(_firing(), token=credential.token))
    first.refresh_from_db()
    assert first.resume_state == ResumeState.CANCELLED
    # Past the quiet period, still nothing: the alert fires again and holds the same incident.
    later = timezone.now() + timedelta(minutes=11)
    assert alert_resume_try(alert_hold_id=first.pk, now=later) == ""
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.HELD
    second = AlertHold.objects.get(released_at__isnull=True)
    assert second.incident_id == incident.pk
    # Its resolve, once quiet long enough, resumes.
    deliver(
        anonymous, credential.receiver.slug, alertmanager(_firing(status="resolved"), token=credential.token)
    )
    assert alert_resume_try(alert_hold_id=second.pk, now=timezone.now() + timedelta(minutes=11)).startswith(
        "resumed"
    )


def test_a_resume_waits_while_the_hold_is_still_being_applied(make_receiver: Make, sites: list[Site]) -> None:
    credential = make_receiver("alertmanager", on_resolved="resume")
    event = payload("alertmanager_firing")["alerts"][0]
    from prefetch_ui.alerts.payloads import AlertEvent

    alert = AlertEvent(
        status="firing", fingerprint=event["fingerprint"], name="OriginErrors", labels={"site": "example.com"}
    )
    alert_fire(receiver=credential.receiver, alert=alert, scope=Scope(site=sites[0]))
    alert_resolve(receiver=credential.receiver, alert=alert)
    hold = AlertHold.objects.get()
    assert alert_resume_try(alert_hold_id=hold.pk).startswith("waiting")
    assert AlertHold.objects.get().resume_state == ResumeState.PENDING
    _applied(hold.incident_id)  # type: ignore[arg-type]
    alerts_sweep_task()
    assert AlertHold.objects.get().resume_state == ResumeState.DONE


def test_resolved_with_nothing_to_do_only_lets_go(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("alertmanager")  # on_resolved: nothing
    deliver(anonymous, credential.receiver.slug, alertmanager(_firing(), token=credential.token))
    _applied(Incident.objects.get().pk)
    deliver(
        anonymous, credential.receiver.slug, alertmanager(_firing(status="resolved"), token=credential.token)
    )
    alerts_sweep_task()
    assert Incident.objects.get().status == IncidentStatus.HELD
    assert AlertHold.objects.get().resume_state == ResumeState.NONE


def test_dry_run_records_what_it_would_do_and_holds_nothing(make_receiver: Make, anonymous: Client) -> None:
    credential = make_receiver("alertmanager", dry_run=True, on_resolved="resume", quiet_minutes=5)
    response = deliver(anonymous, credential.receiver.slug, alertmanager(_firing(), token=credential.token))
    assert response.json()["dry_run"] is True
    assert response.json()["actions"] == ["dry run: OriginErrors (8c3c0fa49c8b27f2) would hold example.com"]
    response = deliver(
        anonymous, credential.receiver.slug, alertmanager(_firing(status="resolved"), token=credential.token)
    )
    assert "would release its hold, then resume after 5 quiet minute(s)" in response.json()["actions"][0]
    assert not Incident.objects.exists()
    assert not AlertHold.objects.exists()
    assert Delivery.objects.filter(dry_run=True).count() == 2
