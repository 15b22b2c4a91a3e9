"""Two operators clicking Hold on the same scope at the same moment start one incident, not two.

SQLite runs one writing transaction at a time; PostgreSQL runs both, so without a lock each click
finds no hold and starts its own.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.contrib.auth.models import User
from django.db import connection

from prefetch_ui.incidents.models import Incident
from prefetch_ui.incidents.services import holds, scopes
from prefetch_ui.prefetch.models import Site

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_hold_requests_at_once_start_one_incident(
    site: Site, operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    both_looked = threading.Barrier(2)
    look = scopes.hold_of_scope

    def look_then_wait(*, site: Site | None) -> Incident | None:
        found = look(site=site)
        # Let the other click look too before either writes, unless it cannot get this far.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_looked.wait(timeout=2)
        return found

    monkeypatch.setattr(scopes, "hold_of_scope", look_then_wait)
    results: list[tuple[Incident, bool]] = []

    def click() -> None:
        try:
            results.append(holds.hold_request(user=operator, site=site, reason="origin down"))
        finally:
            connection.close()

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(timeout=60)
    assert Incident.objects.count() == 1
    assert sorted(created for _, created in results) == [False, True]
    assert len({incident.pk for incident, _ in results}) == 1
