"""What a firing or a resolved alert does: hold its scope through an incident, let go, maybe resume.

An alert holds as one of the incident's holders (`IncidentHolder` with key "alert:<receiver>:<fp>"),
through the incidents' own `hold_request`: a scope already held is joined, not held twice. Its resolve
releases that holder only. The incident resumes, after the receiver's quiet period and with its ramp,
only if no other holder is left: a person who held or joined it (never released by an alert), or
another alert still firing. A resume that finds the hold still being applied is tried again by the
sweep; a firing of the same alert during the quiet period cancels it.

Alerts act as nobody: `AnonymousUser`, so `held_by` stays empty and `held_via`/`resumed_via` say
"alert NAME via receiver R". A service user would be an account that can be logged into, granted
rights and mistaken for a person in the user list; an alert is none of that.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from prefetch_ui.dispatch import dispatch_after_commit
from prefetch_ui.incidents.models import Incident, IncidentHolder, IncidentStatus
from prefetch_ui.incidents.services.holds import hold_request
from prefetch_ui.incidents.services.resumes import IncidentStateError, RampRefused, resume_request
from prefetch_ui.incidents.services.scopes import hold_changes_serialized
from prefetch_ui.prefetch.models import Site

from ..models import AlertHold, OnResolved, Receiver, ResumeState
from ..payloads import AlertEvent
from ..tasks import alert_resume_task
from .scopes import Scope

logger = logging.getLogger(__name__)


def alert_key(*, receiver: Receiver, fingerprint: str) -> str:
    return f"alert:{receiver.pk}:{fingerprint}"[:255]


def alert_via(*, receiver: Receiver, name: str) -> str:
    return f"alert {name} via receiver {receiver.name}"[:255]


def alert_reason(alert: AlertEvent) -> str:
    """The incident's reason: the alert's name, summary, labels and link."""
    lines = [f"Alert {alert.name}" + (f": {alert.summary}" if alert.summary else "")]
    if alert.labels:
        lines.append(
            "Labels: " + ", ".join(f"{name}={value}" for name, value in sorted(alert.labels.items()))
        )
    if alert.link:
        lines.append(alert.link)
    return "\n".join(lines)


def resume_plan(receiver: Receiver) -> str:
    """What a resolve of this receiver's alerts does, in words."""
    if receiver.on_resolved != OnResolved.RESUME:
        return "nothing (a person resumes)"
    cap = (
        f"{receiver.resume_cap} URLs a minute per site"
        if receiver.resume_cap
        else "each site's peak before the hold"
    )
    quiet = f"after {receiver.quiet_minutes} quiet minute(s)" if receiver.quiet_minutes else "at once"
    return f"resume {quiet}, ramped at {cap}, if no one else holds it"


def alert_fire(*, receiver: Receiver, alert: AlertEvent, scope: Scope, now: datetime | None = None) -> str:
    """Hold `scope` for `alert` unless this alert holds already; returns what it did, in words."""
    now = now or timezone.now()
    key = alert_key(receiver=receiver, fingerprint=alert.fingerprint)
    via = alert_via(receiver=receiver, name=alert.name)
    with transaction.atomic():
        cancelled = AlertHold.objects.filter(key=key, resume_state=ResumeState.PENDING).update(
            resume_state=ResumeState.CANCELLED, resume_note="fired again during the quiet period"
        )
        try:
            with transaction.atomic():
                row = AlertHold.objects.create(
                    receiver=receiver,
                    key=key,
                    fingerprint=alert.fingerprint,
                    alert_name=alert.name,
                    labels=alert.labels,
                    link=alert.link,
                    site=scope.site,
                    last_fired_at=now,
                )
        except IntegrityError:
            # This alert holds already (a repeat, or the same alert delivered at once): one hold.
            AlertHold.objects.filter(key=key, released_at__isnull=True).update(
                last_fired_at=now, fire_count=F("fire_count") + 1
            )
            open_hold = AlertHold.objects.filter(key=key, released_at__isnull=True).first()
            incident_id = open_hold.incident_id if open_hold is not None else None
            label = f"{alert.name} ({alert.fingerprint})"
            return f"{label} fires again: already held by it (incident #{incident_id})"
        incident, new = hold_request(
            user=AnonymousUser(), site=scope.site, reason=alert_reason(alert), via=via, holder_key=key
        )
        holder = IncidentHolder.objects.filter(incident=incident, key=key, released_at__isnull=True).last()
        AlertHold.objects.filter(pk=row.pk).update(incident=incident, holder=holder)
    what = "opened" if new else "joined"
    suffix = " (its pending resume cancelled)" if cancelled else ""
    return f"{alert.name} ({alert.fingerprint}) holds {scope.label}: {what} incident #{incident.pk}{suffix}"


def alert_resolve(*, receiver: Receiver, alert: AlertEvent, now: datetime | None = None) -> str:
    """Release `alert`'s hold; with the receiver's "resume", plan the resume after its quiet period."""
    now = now or timezone.now()
    key = alert_key(receiver=receiver, fingerprint=alert.fingerprint)
    with transaction.atomic():
        row = AlertHold.objects.select_for_update().filter(key=key, released_at__isnull=True).first()
        if row is None:
            return f"{alert.name} ({alert.fingerprint}) resolved: it held nothing"
        row.released_at = now
        if row.holder_id is not None:
            IncidentHolder.objects.filter(pk=row.holder_id, released_at__isnull=True).update(released_at=now)
        if receiver.on_resolved == OnResolved.RESUME and row.incident_id is not None:
            row.resume_state = ResumeState.PENDING
            row.resume_due_at = now + timedelta(minutes=receiver.quiet_minutes)
        row.save(update_fields=["released_at", "resume_state", "resume_due_at"])
        if row.resume_state == ResumeState.PENDING and not receiver.quiet_minutes:
            dispatch_after_commit(alert_resume_task, (row.pk,), what=f"the resume of alert hold {row.pk}")
    label = f"{alert.name} ({alert.fingerprint})"
    return f"{label} resolved: released incident #{row.incident_id}; then {resume_plan(receiver)}"


def _caps(receiver: Receiver, incident: Incident) -> dict[int, int]:
    """The ramp: the receiver's cap for each site of the incident; empty: each site's default."""
    if receiver.resume_cap is None:
        return {}
    sites = [incident.site] if incident.site is not None else list(Site.objects.all())
    return {site.esa_id: receiver.resume_cap for site in sites if site is not None}


def _finish(row: AlertHold, state: ResumeState, note: str) -> str:
    AlertHold.objects.filter(pk=row.pk).update(resume_state=state, resume_note=note[:2000])
    return note


def alert_resume_try(*, alert_hold_id: int, now: datetime | None = None) -> str:
    """Resume the incident of a resolved alert, if its quiet period is over and no one else holds it.

    Idempotent: a row no longer pending, or not due, is left alone. A hold still being applied
    stays pending: the sweep tries again."""
    now = now or timezone.now()
    with transaction.atomic():
        # The lock every change of who holds what takes: no hold joins between the look and the resume.
        hold_changes_serialized()
        row = (
            AlertHold.objects.select_for_update(of=("self",))
            .select_related("receiver")
            .filter(pk=alert_hold_id, resume_state=ResumeState.PENDING, resume_due_at__lte=now)
            .first()
        )
        if row is None:
            return ""
        incident = (
            Incident.objects.filter(pk=row.incident_id).select_related("site").first()
            if row.incident_id is not None
            else None
        )
        if incident is None or incident.status in (IncidentStatus.RESUMING, IncidentStatus.RESUMED):
            who = incident.resumed_by_label if incident is not None else ""
            return _finish(row, ResumeState.ALREADY, f"already resumed{f' by {who}' if who else ''}")
        others = IncidentHolder.objects.filter(incident=incident, released_at__isnull=True)
        if others.exists():
            names = sorted(
                {holder.via or (holder.user.get_username() if holder.user else "?") for holder in others}
            )
            return _finish(
                row, ResumeState.SKIPPED, f"incident #{incident.pk} still held by {', '.join(names)}"
            )
        via = alert_via(receiver=row.receiver, name=row.alert_name)
        try:
            preview = resume_request(
                user=AnonymousUser(),
                incident=incident,
                reschedule=True,
                reason=f"alert {row.alert_name} resolved",
                caps=_caps(row.receiver, incident),
                via=via,
            )
        except IncidentStateError as error:
            if incident.status == IncidentStatus.HOLDING:
                AlertHold.objects.filter(pk=row.pk).update(resume_note=f"waiting: {error}"[:2000])
                return f"waiting: {error}"
            return _finish(row, ResumeState.ALREADY, str(error))
        except RampRefused as error:
            return _finish(row, ResumeState.FAILED, str(error))
        ramp = ", ".join(
            f"{load.site.name} at {load.cap} URLs a minute" for load in preview.loads if load.cap
        )
        note = f"resumed incident #{incident.pk}" + (f" with a ramp: {ramp}" if ramp else "")
        return _finish(row, ResumeState.DONE, note)


def alert_resumes_due(*, now: datetime | None = None) -> list[int]:
    """The resolved alerts whose resume is due (quiet period over, or a hold still applying)."""
    now = now or timezone.now()
    due = AlertHold.objects.filter(resume_state=ResumeState.PENDING, resume_due_at__lte=now)
    return list(due.order_by("resume_due_at", "pk").values_list("pk", flat=True))
