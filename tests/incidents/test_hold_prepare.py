"""A hold's steps are written in two goes: the first `FIRST_STEPS` (running plans first) go to the
drainers while the rest are written, and the hold is planned only once all are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.incidents.models import HeldPlan, HoldAction, Incident, StepState
from prefetch_ui.incidents.services import holds, scopes
from prefetch_ui.incidents.services.holds import hold_prepare, hold_request
from prefetch_ui.prefetch.models import Plan, PlanStatus, Site
from prefetch_ui.prefetch.services.sync import esa_sync

pytestmark = pytest.mark.django_db(transaction=True)


def _estate(esa: EsaClient, *, running: int, waiting: int) -> Site:
    now = datetime.now(UTC).replace(microsecond=0)
    later = now + timedelta(hours=2)
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Batch", urls=[f"https://example.com/{n}.css" for n in range(50)]
    )
    esa.create_scheduled_preload_executions(
        job.id,
        [PlanSpec(later + timedelta(minutes=n), later + timedelta(hours=3), 60, 1) for n in range(waiting)]
        + [PlanSpec(now, now + timedelta(hours=3), 60, 1) for _ in range(running)],
    )
    esa.list_scheduled_preload_executions(job.id)  # the simulator moves plans on when read
    esa_sync(client=esa)
    return Site.objects.get(esa_id=DEMO_SITE_ID)


def test_the_first_steps_are_the_running_plans_and_the_hold_is_planned_after_the_rest(
    esa: EsaClient, operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(holds, "FIRST_STEPS", 3)
    sent: list[tuple[int, bool]] = []  # drainers sent: (pending steps then, planned then)

    def dispatched(*, incident_id: int) -> int:
        planned = Incident.objects.get(pk=incident_id).planned_at is not None
        sent.append((HeldPlan.objects.filter(incident_id=incident_id).count(), planned))
        return 0

    monkeypatch.setattr(holds, "drainers_dispatch", dispatched)
    site = _estate(esa, running=3, waiting=4)
    incident, _ = hold_request(user=operator, site=site, reason="drill")

    assert hold_prepare(incident_id=incident.pk) == 7
    # The drainers were sent with the first 3 (the running plans, to stop), the hold not planned
    # yet; then again with all 7, planned.
    assert sent == [(3, False), (7, True)]
    steps = HeldPlan.objects.filter(incident=incident)
    assert steps.filter(state=StepState.PENDING).count() == 7
    assert (
        sorted(steps.values_list("hold_action", flat=True)) == [HoldAction.PARK] * 4 + [HoldAction.STOP] * 3
    )
    assert Incident.objects.get(pk=incident.pk).planned_at is not None
    assert hold_prepare(incident_id=incident.pk) == 0  # idempotent: planned already


def test_a_plan_another_hold_took_between_the_two_goes_stays_that_holds(
    esa: EsaClient, operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(holds, "FIRST_STEPS", 2)
    monkeypatch.setattr(holds, "drainers_dispatch", lambda incident_id: 0)
    site = _estate(esa, running=2, waiting=3)
    incident, _ = hold_request(user=operator, site=site, reason="drill")
    serialized = scopes.hold_changes_serialized
    taken: list[str] = []

    def meanwhile() -> None:
        if not taken:  # just before the rest are written: another hold took a waiting plan
            plan = (
                Plan.objects.filter(job__site=site, status=PlanStatus.WAITING).select_related("job").first()
            )
            assert plan is not None
            other = Incident.objects.create(site=None, held_by=operator, reason="everything")
            HeldPlan.objects.create(
                incident=other,
                plan_esa_id=plan.esa_id,
                job_esa_id=plan.job.esa_id,
                site_id=site.pk,
                interval=plan.interval,
                slice_len=plan.slice_len,
                hold_action=HoldAction.PARK,
            )
            taken.append(plan.esa_id)
        serialized()

    monkeypatch.setattr(holds, "hold_changes_serialized", meanwhile)
    assert hold_prepare(incident_id=incident.pk) == 4
    mine = set(HeldPlan.objects.filter(incident=incident).values_list("plan_esa_id", flat=True))
    assert len(mine) == 4 and taken[0] not in mine
