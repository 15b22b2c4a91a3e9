"""The admin shows every model (docs/operating.md): incidents and the plans they held, read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.incidents.models import HeldPlan, Incident
from prefetch_ui.prefetch.models import Site
from tests.factories import JobFactory, PlanFactory
from tests.holds import hold_done

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(site: Site, operator: User) -> Incident:
    job = JobFactory.create(site=site, name="Winter sale")
    PlanFactory.create(job=job, status="running")
    PlanFactory.create(job=job, status="waiting")
    return hold_done(user=operator, site=site, reason="origin 5xx")


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("root", password="root-pass-123"))
    return client


def test_the_admin_lists_and_shows_incidents(incident: Incident, admin_client: Client) -> None:
    listed = admin_client.get(reverse("admin:incidents_incident_changelist"))
    assert listed.status_code == 200
    assert "origin 5xx" in listed.content.decode() and incident.scope_label in listed.content.decode()
    filtered = admin_client.get(reverse("admin:incidents_incident_changelist"), {"status__exact": "held"})
    assert filtered.status_code == 200 and "origin 5xx" in filtered.content.decode()
    shown = admin_client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    assert shown.status_code == 200 and "origin 5xx" in shown.content.decode()
    # Read-only: nothing to save, add or delete.
    assert 'name="_save"' not in shown.content.decode()
    assert admin_client.get(reverse("admin:incidents_incident_add")).status_code == 403


def test_the_admin_lists_and_shows_the_plans_an_incident_held(
    incident: Incident, admin_client: Client
) -> None:
    held = HeldPlan.objects.filter(incident=incident).first()
    assert held is not None
    listed = admin_client.get(
        reverse("admin:incidents_heldplan_changelist"), {"hold_outcome__exact": "parked"}
    )
    assert listed.status_code == 200 and "Held (window moved)" in listed.content.decode()
    shown = admin_client.get(reverse("admin:incidents_heldplan_change", args=[held.pk]))
    assert shown.status_code == 200 and held.plan_esa_id in shown.content.decode()
    assert 'name="_save"' not in shown.content.decode()
