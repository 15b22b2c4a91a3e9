"""Holds that overlap (a site's own and one of every site, in any order) against the simulator, with
the real services, each step carried out before time moves (see `tests.incidents.synchronous`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from prefetch_ui.esa import PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.incidents.models import (
    FoundBy,
    HeldPlan,
    HoldOutcome,
    Incident,
    IncidentStatus,
    ResumeAction,
    ResumeOutcome,
)
from prefetch_ui.incidents.services.holds import hold_preview, hold_request
from prefetch_ui.incidents.services.resumes import IncidentStateError, resume_preview, resume_request
from prefetch_ui.incidents.services.steps import step_claim, step_execute
from prefetch_ui.prefetch.models import Site
from tests.incidents.synchronous import Estate, minutes, synchronous_estate

pytestmark = pytest.mark.django_db(transaction=True)

SHOP = SEED_SITES[1]


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Estate]:
    with synchronous_estate(tmp_path, monkeypatch) as estate:
        yield estate


def _jobs(estate: Estate) -> dict[str, tuple[str, list[str]]]:
    """On each of two sites, a job with a running plan and one that starts in two minutes."""
    now = estate.now()
    made = {}
    for site_id, host in ((DEMO_SITE_ID, "example.com"), (SHOP.site_id, SHOP.site_name)):
        job = estate.esa.create_scheduled_preload_job(
            site_id=site_id, name=f"Assets of {host}", urls=[f"https://{host}/a{i}.js" for i in range(500)]
        )
        plans = estate.esa.create_scheduled_preload_executions(
            job.id,
            [
                PlanSpec(now, now + minutes(60), 10, 2),
                PlanSpec(now + minutes(2), now + minutes(60), 30, 3),
            ],
        ).succeeded
        made[host] = (job.id, [plan.id for plan in plans])
    estate.forward(1)  # the first plan fires: running
    estate.sync()
    return made


def _calls_on(estate: Estate, plan_ids: list[str], *actions: str) -> list[str]:
    return [
        call["action"]
        for call in estate.sim.calls()
        if call["params"].get("Id") in plan_ids and (not actions or call["action"] in actions)
    ]


def _site(esa_id: int) -> Site:
    return Site.objects.get(esa_id=esa_id)


def _hold(estate: Estate, user: User, site: Site | None) -> Incident:
    incident, created = hold_request(user=user, site=site, reason="")
    assert created
    estate.drain(incident)
    incident.refresh_from_db()
    return incident


def _resume(estate: Estate, user: User, incident: Incident) -> None:
    resume_request(user=user, incident=incident, reschedule=True)
    estate.drain(incident)


def test_resuming_the_site_hold_while_every_site_is_held_passes_its_plans_on_and_sends_nothing(
    estate: Estate, operator: User, operator_client: Client
) -> None:
    """Problem 1 of the incident review: resuming #1 while #2 held everywhere restarted #1's plans,
    and 45 URLs reached the origin before #2's sync held them again."""
    made = _jobs(estate)
    job_id, plan_ids = made["example.com"]
    own = _hold(estate, operator, _site(DEMO_SITE_ID))
    everywhere = _hold(estate, operator, None)
    assert HeldPlan.objects.filter(incident=own).count() == 2
    # The every-site hold held only the shop's plans; example.com's are #1's.
    assert set(HeldPlan.objects.filter(incident=everywhere).values_list("site__esa_id", flat=True)) == {
        SHOP.site_id
    }

    preview = resume_preview(own)
    assert [(stays.incident, stays.count) for stays in preview.stays_held] == [(everywhere, 2)]
    assert preview.to_send == 0 and {line.action for line in preview.lines} == {ResumeAction.PASS}
    page = operator_client.get(reverse("incident-resume", args=[own.pk])).content.decode()
    assert "<strong>2</strong> stay held by" in page and f"incident #{everywhere.pk}</a> (every site)" in page

    submitted = estate.submitted(job_id)
    calls_before = len(estate.sim.calls())
    _resume(estate, operator, own)
    own.refresh_from_db()
    assert own.status == IncidentStatus.RESUMED
    assert len(estate.sim.calls()) == calls_before  # no ESA call: the plans stay as they are
    assert set(HeldPlan.objects.filter(incident=own).values_list("resume_outcome", "passed_to")) == {
        (ResumeOutcome.PASSED, everywhere.pk)
    }
    passed = HeldPlan.objects.filter(incident=everywhere, found_by=FoundBy.PASSED)
    assert set(passed.values_list("plan_esa_id", "passed_from")) == {(plan, own.pk) for plan in plan_ids}

    estate.forward(300)  # past the second plan's original start
    estate.sync()
    assert estate.submitted(job_id) == submitted  # held all along
    assert _calls_on(estate, plan_ids, "StartScheduledPreloadExecution") == []

    # The wider hold resumes: it puts back what it holds, example.com's plans included.
    _resume(estate, operator, everywhere)
    assert set(HeldPlan.objects.filter(incident=everywhere).values_list("resume_outcome", flat=True)) <= {
        ResumeOutcome.STARTED,
        ResumeOutcome.RESTORED,
        ResumeOutcome.RESCHEDULED,
    }
    estate.forward(60)
    assert estate.submitted(job_id) > submitted


def test_resuming_every_site_first_leaves_a_site_with_its_own_hold_held(
    estate: Estate, operator: User
) -> None:
    made = _jobs(estate)
    example_job, example_plans = made["example.com"]
    shop_job, _ = made[SHOP.site_name]
    everywhere = _hold(estate, operator, None)
    # A hold of example.com on its own, after: it touches nothing (all held), and is its own incident.
    assert hold_preview(_site(DEMO_SITE_ID)).to_touch == 0
    own = _hold(estate, operator, _site(DEMO_SITE_ID))
    assert own.pk != everywhere.pk and own.status == IncidentStatus.HELD
    assert not HeldPlan.objects.filter(incident=own).exists()

    example_before, shop_before = estate.submitted(example_job), estate.submitted(shop_job)
    _resume(estate, operator, everywhere)
    outcomes = dict(HeldPlan.objects.filter(incident=everywhere).values_list("plan_esa_id", "resume_outcome"))
    assert {outcomes[plan] for plan in example_plans} == {ResumeOutcome.PASSED}
    assert set(HeldPlan.objects.filter(incident=own).values_list("plan_esa_id", flat=True)) == set(
        example_plans
    )

    estate.forward(300)
    estate.sync()
    assert estate.submitted(example_job) == example_before
    assert estate.submitted(shop_job) > shop_before
    assert _calls_on(estate, example_plans, "StartScheduledPreloadExecution") == []


def test_a_hold_begun_while_another_incident_resumes_takes_over_what_it_has_not_put_back(
    estate: Estate, operator: User
) -> None:
    made = _jobs(estate)
    job_id, plan_ids = made["example.com"]
    own = _hold(estate, operator, _site(DEMO_SITE_ID))
    resume_request(user=operator, incident=own, reschedule=True)  # asked; no drainer has run yet
    everywhere = _hold(estate, operator, None)
    estate.drain(own)

    own.refresh_from_db()
    assert own.status == IncidentStatus.RESUMED
    assert set(HeldPlan.objects.filter(incident=own).values_list("resume_outcome", flat=True)) == {
        ResumeOutcome.PASSED
    }
    assert set(
        HeldPlan.objects.filter(incident=everywhere, site__esa_id=DEMO_SITE_ID).values_list(
            "plan_esa_id", flat=True
        )
    ) == set(plan_ids)
    submitted = estate.submitted(job_id)
    estate.forward(300)
    estate.sync()
    assert estate.submitted(job_id) == submitted
    assert _calls_on(estate, plan_ids, "StartScheduledPreloadExecution") == []


def test_a_resume_step_claimed_as_a_hold_begins_passes_its_plan_on_without_a_call(
    estate: Estate, operator: User
) -> None:
    _jobs(estate)
    own = _hold(estate, operator, _site(DEMO_SITE_ID))
    resume_request(user=operator, incident=own, reschedule=True)
    claimed = step_claim(own.pk, "worker-a")
    assert claimed is not None
    # The hold begins after the claim (too late for the hold to take the step over) ...
    everywhere, _ = hold_request(user=operator, site=None, reason="")
    calls_before = len(estate.sim.calls())
    step_execute(claimed, estate.esa, "worker-a")  # ... and the step looks again before its calls.
    assert len(estate.sim.calls()) == calls_before
    claimed.refresh_from_db()
    assert (claimed.resume_outcome, claimed.passed_to_id) == (ResumeOutcome.PASSED, everywhere.pk)
    assert (
        HeldPlan.objects.get(incident=everywhere, plan_esa_id=claimed.plan_esa_id).found_by == FoundBy.PASSED
    )


def test_a_plan_put_back_in_the_instant_a_hold_begins_is_held_again_at_once(
    estate: Estate, operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _jobs(estate)
    job_id, plan_ids = made["example.com"]
    own = _hold(estate, operator, _site(DEMO_SITE_ID))
    resume_request(user=operator, incident=own, reschedule=True)
    running_plan = plan_ids[0]
    claimed = step_claim(own.pk, "worker-a")
    assert claimed is not None and claimed.plan_esa_id == running_plan  # stopped plans go first
    started = estate.esa.start_scheduled_preload_execution
    begun: list[Incident] = []

    def start_then_hold(plan_id: str):  # type: ignore[no-untyped-def]
        answer = started(plan_id)
        begun.append(hold_request(user=operator, site=None, reason="")[0])
        return answer

    monkeypatch.setattr(estate.esa, "start_scheduled_preload_execution", start_then_hold)
    step_execute(claimed, estate.esa, "worker-a")
    claimed.refresh_from_db()
    (everywhere,) = begun
    assert (claimed.resume_outcome, claimed.passed_to_id) == (ResumeOutcome.STARTED, everywhere.pk)
    again = HeldPlan.objects.get(incident=everywhere, plan_esa_id=running_plan)
    assert again.found_by == FoundBy.PASSED and again.state == "pending"
    estate.drain(everywhere)
    again.refresh_from_db()
    assert again.hold_outcome == HoldOutcome.STOPPED
    submitted = estate.submitted(job_id)
    estate.drain(own)
    estate.forward(300)
    estate.sync()
    assert estate.submitted(job_id) == submitted


def test_a_resume_asked_while_its_hold_is_still_being_applied_is_refused_and_changes_nothing(
    estate: Estate, operator: User
) -> None:
    _jobs(estate)
    incident, _ = hold_request(user=operator, site=_site(DEMO_SITE_ID), reason="")
    with pytest.raises(IncidentStateError, match="still being applied"):
        resume_request(user=operator, incident=incident, reschedule=True)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.HOLDING and incident.resume_requested_at is None
    estate.drain(incident)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.HELD


def test_the_hold_confirmation_counts_only_what_the_hold_will_touch(
    estate: Estate, operator: User, operator_client: Client
) -> None:
    """Problem 2: with example.com held, its hold page offered to hold 10 plans again, and the
    every-site hold said 13 plans and held 3."""
    _jobs(estate)
    example = _site(DEMO_SITE_ID)
    own = _hold(estate, operator, example)

    again = operator_client.get(reverse("hold-new") + f"?site={DEMO_SITE_ID}").content.decode()
    link = f'<a href="{reverse("incident-detail", args=[own.pk])}">incident #{own.pk}</a>'
    assert f"is already held by\n    {link}" in again
    assert 'data-testid="hold-confirm"' not in again  # no button that would do nothing
    site_page = operator_client.get(reverse("site-detail", args=[DEMO_SITE_ID])).content.decode()
    assert 'data-testid="site-held-by"' in site_page and 'data-testid="hold-site"' not in site_page

    preview = hold_preview(None)
    assert (preview.running, preview.waiting, preview.held_elsewhere) == (1, 1, 2)
    everywhere_page = operator_client.get(reverse("hold-new")).content.decode()
    assert "Hold 2 plans everywhere" in everywhere_page and "About 2 ESA calls" in everywhere_page
    calls_before = len(estate.sim.calls())
    everywhere = _hold(estate, operator, None)
    held = HeldPlan.objects.filter(incident=everywhere)
    assert held.count() == preview.to_touch
    assert held.filter(hold_outcome=HoldOutcome.STOPPED).count() == preview.running
    assert held.filter(hold_outcome=HoldOutcome.PARKED).count() == preview.waiting
    assert len(estate.sim.calls()) - calls_before == preview.to_touch

    # Both held: nothing left to touch anywhere, and every-site's page says who holds it.
    assert hold_preview(None).to_touch == 0
    page = operator_client.get(reverse("hold-new")).content.decode()
    assert 'data-testid="already-held"' in page and 'data-testid="hold-confirm"' not in page
    # The shop's page names the every-site hold and offers a hold of its own.
    shop_page = operator_client.get(reverse("site-detail", args=[SHOP.site_id])).content.decode()
    assert f"incident #{everywhere.pk}</a>" in shop_page and "Hold this site on its own" in shop_page


def test_a_plan_moved_out_of_its_park_and_stopped_by_the_sync_gets_its_original_window_back(
    estate: Estate, operator: User
) -> None:
    """Found by an independent run: the resume left such a plan stopped ("changed by someone
    else"), although the stop was the incident's own."""
    made = _jobs(estate)
    _, (_, waiting) = made["example.com"]
    original = next(
        p
        for p in estate.esa.list_scheduled_preload_executions(made["example.com"][0]).items
        if p.id == waiting
    )
    incident = _hold(estate, operator, _site(DEMO_SITE_ID))
    assert HeldPlan.objects.get(plan_esa_id=waiting).hold_outcome == HoldOutcome.PARKED

    # In the console: its window moved back to now; it runs, and the sync stops it.
    now = estate.now()
    estate.esa.update_scheduled_preload_execution(
        waiting, PlanSpec(now, now + minutes(30), original.interval, original.slice_len)
    )
    estate.forward(1)
    estate.sync()
    held = HeldPlan.objects.get(plan_esa_id=waiting)
    assert (held.hold_outcome, held.rehold_count) == (HoldOutcome.STOPPED, 1)

    line = next(line for line in resume_preview(incident).lines if line.held.plan_esa_id == waiting)
    assert line.action == ResumeAction.RESTORE
    _resume(estate, operator, incident)
    after = next(
        p
        for p in estate.esa.list_scheduled_preload_executions(made["example.com"][0]).items
        if p.id == waiting
    )
    assert (after.start_time, after.end_time) == (original.start_time, original.end_time)
    assert after.status in ("waiting", "running")
    assert HeldPlan.objects.get(plan_esa_id=waiting).resume_outcome == ResumeOutcome.RESTORED
