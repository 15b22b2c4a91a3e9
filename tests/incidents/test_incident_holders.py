"""Who held and who asked, when it was not a person on a page: tokens and alerts are named as such.

A hold of a scope already held joins its incident; each request is one of the incident's holders,
so that an alert's resolve can tell whether anyone else still holds it.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.incidents.models import IncidentHolder
from prefetch_ui.incidents.services.holds import hold_request
from prefetch_ui.prefetch.models import OperationKind, Site
from prefetch_ui.prefetch.services.operations import operation_request
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def _csv_actors(client: Client) -> dict[str, str]:
    response = client.get(reverse("audit-csv"))
    body = b"".join(response).decode("utf-8").removeprefix("\ufeff")
    return {row["Kind"]: row["Who"] for row in csv.DictReader(io.StringIO(body))}


def test_every_hold_request_is_a_holder_and_a_join_keeps_who_opened_it(site: Site, operator: User) -> None:
    incident, new = hold_request(
        user=operator,
        site=site,
        reason="5xx",
        via="alert OriginDown via receiver am",
        holder_key="alert:1:abc",
    )
    joined, joined_new = hold_request(user=operator, site=site, reason="me too")
    assert new and not joined_new and joined == incident
    holders = list(IncidentHolder.objects.filter(incident=incident).values_list("via", "key", "opened"))
    assert holders == [("alert OriginDown via receiver am", "alert:1:abc", True), ("", "", False)]
    incident.refresh_from_db()
    assert incident.held_by_label == "alert OriginDown via receiver am"


def test_the_audit_log_and_pages_name_a_token_or_an_alert_instead_of_the_user(
    site: Site, operator: User, viewer_client: Client
) -> None:
    job = JobFactory.create(site=site)
    operation_request(user=operator, kind=OperationKind.JOB_RESET, target=job, via="token ci-bot of operator")
    hold_request(user=operator, site=site, reason="5xx", via="alert OriginDown via receiver am")
    actors = _csv_actors(viewer_client)
    assert actors["job_reset"] == "token ci-bot of operator"
    assert actors["incident_hold"] == "alert OriginDown via receiver am"
    job_page = viewer_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    assert "token ci-bot of operator" in job_page
