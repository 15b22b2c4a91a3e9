"""A page left open past its session: its next poll or button sends the whole page to log in, and
back to it afterwards, instead of swapping the login form into the polled region."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from prefetch_ui.prefetch.models import Site
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_a_poll_after_the_session_ended_sends_the_whole_page_to_log_in_and_back(site: Site) -> None:
    job = JobFactory.create(site=site)
    page = reverse("job-detail", args=[job.esa_id])
    answer = Client().get(
        f"{page}?poll=1&v=3",
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{page}?status=running"},
    )
    assert answer.status_code == 200 and answer.content == b""
    assert answer["HX-Redirect"] == f"{reverse('login')}?next=/jobs/{job.esa_id}/%3Fstatus%3Drunning"


def test_a_button_after_the_session_ended_does_nothing_and_sends_the_page_to_log_in(site: Site) -> None:
    job = JobFactory.create(site=site)
    answer = Client(enforce_csrf_checks=False).post(
        reverse("job-action", args=[job.esa_id, "reset"]),
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver/jobs/{job.esa_id}/"},
    )
    assert answer["HX-Redirect"] == f"{reverse('login')}?next=/jobs/{job.esa_id}/"
    assert not job.operations.exists()


def test_a_page_load_after_the_session_ended_is_redirected_as_before(site: Site) -> None:
    answer = Client().get(reverse("site-detail", args=[site.esa_id]))
    assert answer.status_code == 302
    assert answer["Location"] == f"{reverse('login')}?next=/sites/{site.esa_id}/"
