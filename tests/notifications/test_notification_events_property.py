"""Each event is recorded once and told in its order, whatever order the scan sees things in. A
Hypothesis `RuleBasedStateMachine` opens, completes and resumes holds (as the incident services
write them: conditional updates that send no signal) and runs the scan between any of them; after
each step: the events recorded are exactly those of the states the scan has seen (an incident below
the scan's cursor is never missed), none twice, and a channel's deliveries of one incident go in
the order things happened to it (opened, completed, resumed), even when one scan saw all three."""

from __future__ import annotations

from typing import ClassVar

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from prefetch_ui.incidents.models import Incident, IncidentStatus
from prefetch_ui.notifications.models import ChannelKind, Delivery, Event, EventKind, ScanCursor
from prefetch_ui.notifications.services.channels import channel_create
from prefetch_ui.notifications.services.scan import _incidents_scan

pytestmark = pytest.mark.django_db

ORDER = ["opened", "hold_completed", "resumed"]


class HoldsAndScans(RuleBasedStateMachine):
    user: ClassVar[User]

    def __init__(self) -> None:
        super().__init__()
        Event.objects.all().delete()
        Incident.objects.all().delete()
        ScanCursor.objects.all().delete()
        # What each incident had become when the scan last ran: the events it must have by now.
        self.seen: dict[int, set[str]] = {}
        self.state: dict[int, set[str]] = {}
        channel, _ = channel_create(
            user=None,
            name="all",
            kind=ChannelKind.SLACK,
            url="http://127.0.0.1:9/x",
            events=[EventKind.HOLD_OPENED, EventKind.HOLD_COMPLETED, EventKind.HOLD_RESUMED],
            sites=[],
        )
        self.channel = channel

    @rule()
    def open_a_hold(self) -> None:
        incident = Incident.objects.create(site=None, reason="r", held_by=self.user)
        self.state[incident.pk] = {"opened"}

    def _in(self, status: str) -> list[int]:
        return sorted(Incident.objects.filter(status=status).values_list("pk", flat=True))

    @precondition(lambda self: bool(self._in(IncidentStatus.HOLDING)))
    @rule(data=st.data())
    def a_hold_completes(self, data: st.DataObject) -> None:
        pk = data.draw(st.sampled_from(self._in(IncidentStatus.HOLDING)))
        Incident.objects.filter(pk=pk, status=IncidentStatus.HOLDING).update(
            status=IncidentStatus.HELD, hold_done_at=timezone.now()
        )
        self.state[pk].add("hold_completed")

    @precondition(lambda self: bool(self._in(IncidentStatus.HELD)))
    @rule(data=st.data(), at_once=st.booleans())
    def a_hold_resumes(self, data: st.DataObject, at_once: bool) -> None:
        pk = data.draw(st.sampled_from(self._in(IncidentStatus.HELD)))
        Incident.objects.filter(pk=pk).update(
            status=IncidentStatus.RESUMING, resume_requested_at=timezone.now()
        )
        if at_once:
            Incident.objects.filter(pk=pk).update(status=IncidentStatus.RESUMED, resumed_at=timezone.now())
            self.state[pk].add("resumed")

    @precondition(lambda self: bool(self._in(IncidentStatus.RESUMING)))
    @rule(data=st.data())
    def a_resume_settles(self, data: st.DataObject) -> None:
        pk = data.draw(st.sampled_from(self._in(IncidentStatus.RESUMING)))
        Incident.objects.filter(pk=pk).update(status=IncidentStatus.RESUMED, resumed_at=timezone.now())
        self.state[pk].add("resumed")

    @rule()
    def scan(self) -> None:
        _incidents_scan()
        self.seen = {pk: set(events) for pk, events in self.state.items()}

    @invariant()
    def every_event_seen_is_recorded_once(self) -> None:
        expected = sorted(f"incident:{pk}:{name}" for pk, names in self.seen.items() for name in names)
        assert sorted(Event.objects.values_list("key", flat=True)) == expected

    @invariant()
    def a_channel_is_told_in_the_order_things_happened(self) -> None:
        told: dict[str, list[str]] = {}
        for key in (
            Delivery.objects.filter(channel=self.channel).order_by("id").values_list("event__key", flat=True)
        ):
            _, pk, name = key.split(":")
            told.setdefault(pk, []).append(name)
        for names in told.values():
            assert names == [name for name in ORDER if name in names]


def test_holds_and_scans_in_any_order_record_each_event_once_in_order(db: None) -> None:
    HoldsAndScans.user = User.objects.create_user("holder")
    run_state_machine_as_test(
        HoldsAndScans,
        settings=settings(
            max_examples=60,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
