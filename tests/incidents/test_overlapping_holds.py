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

    preview = resume_preview(incident=own)
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
    detail = operator_client.get(reverse("incident-detail", args=[everywhere.pk])).content.decode()
    assert "Passed on by another incident's resume" in detail and f"passed on by #{own.pk}" in detail
    resumed_page = operator_client.get(reverse("incident-detail", args=[own.pk])).content.decode()
    assert (
        f'Stays held by <a href="{reverse("incident-detail", args=[everywhere.pk])}">#{everywhere.pk}</a>'
        in resumed_page
    )

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
    assert hold_preview(site=_site(DEMO_SITE_ID)).to_touch == 0
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
    claimed = step_claim(incident_id=own.pk, worker="worker-a")
    assert claimed is not None
    # The hold begins after the claim (too late for the hold to take the step over) ...
    everywhere, _ = hold_request(user=operator, site=None, reason="")
    calls_before = len(estate.sim.calls())
    step_execute(
        held=claimed, client=estate.esa, worker="worker-a"
    )  # ... and the step looks again before its calls.
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
    claimed = step_claim(incident_id=own.pk, worker="worker-a")
    assert claimed is not None and claimed.plan_esa_id == running_plan  # stopped plans go first
    started = estate.esa.start_scheduled_preload_execution
    begun: list[Incident] = []

    def start_then_hold(plan_id: str):  # type: ignore[no-untyped-def]
        answer = started(plan_id)
        begun.append(hold_request(user=operator, site=None, reason="")[0])
        return answer

    monkeypatch.setattr(estate.esa, "start_scheduled_preload_execution", start_then_hold)
    step_execute(held=claimed, client=estate.esa, worker="worker-a")
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

    preview = hold_preview(site=None)
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

    # The sites page offers no second hold of every site: it names the one there is.
    home = operator_client.get(reverse("home")).content.decode()
    assert (
        f"Every site is held by incident #{everywhere.pk}" in home
        and 'data-testid="hold-everywhere"' not in home
    )
    # Both held: nothing left to touch anywhere, and every-site's page says who holds it.
    assert hold_preview(site=None).to_touch == 0
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

    line = next(line for line in resume_preview(incident=incident).lines if line.held.plan_esa_id == waiting)
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


def _per_minute(estate: Estate, job_ids: dict[str, str], minutes_count: int) -> dict[str, list[int]]:
    """URLs each job submits in each of the next whole wall-clock minutes (read just before each
    minute ends: ESA's batch times are whole seconds, so every batch of the minute is in)."""
    seconds = estate.clock.now
    estate.forward(60 - seconds % 60 - 0.5)  # to hh:mm:59.5
    counts = {name: [] for name in job_ids}  # type: dict[str, list[int]]
    last = {name: estate.submitted(job) for name, job in job_ids.items()}
    for _ in range(minutes_count):
        estate.forward(60)
        for name, job in job_ids.items():
            now = estate.submitted(job)
            counts[name].append(now - last[name])
            last[name] = now
    return counts


def test_a_ramped_resume_keeps_every_minute_under_the_cap_where_a_resume_as_it_was_bursts(
    estate: Estate, operator: User, operator_client: Client
) -> None:
    """Problem 3: every plan whose window passed during the hold restarted in the same second,
    and the origin's minute after the resume took 1.4 times its peak from before the hold.

    Two sites with the same four plans (30 URLs a minute each, two at a time as scheduled): one is
    resumed with the default ramp, the other as it was; the simulator's own counts, minute by minute."""
    start = estate.now().replace(second=0) + minutes(1)
    estate.forward((start - estate.now()).total_seconds())
    jobs: dict[str, str] = {}
    incidents: dict[str, Incident] = {}
    for site_id, host in ((DEMO_SITE_ID, "example.com"), (SHOP.site_id, SHOP.site_name)):
        job = estate.esa.create_scheduled_preload_job(
            site_id=site_id, name=f"Assets of {host}", urls=[f"https://{host}/a{i}.js" for i in range(1000)]
        )
        estate.esa.create_scheduled_preload_executions(
            job.id, [PlanSpec(start + minutes(k), start + minutes(k + 2), 10, 5) for k in range(4)]
        )
        jobs[host] = job.id
    estate.forward(30)
    estate.sync()
    for site_id, host in ((DEMO_SITE_ID, "example.com"), (SHOP.site_id, SHOP.site_name)):
        incidents[host] = _hold(estate, operator, _site(site_id))
    estate.forward(300)  # every window passes during the hold

    ramp = resume_preview(incident=incidents["example.com"], reschedule=True, caps={})
    (load,) = ramp.loads
    assert load.before is not None and load.as_it_was is not None and load.ramped is not None
    # Scheduled: two plans at a time (65 in a minute where one's last batch meets two others');
    # as it was: all four rescheduled to the same second, 120 a minute.
    cap = load.before[1]
    assert (cap, load.as_it_was[1], load.default_cap, load.cap) == (65, 120, 65, 65)
    assert load.ramped[1] <= cap and load.last_start is not None
    page = operator_client.get(reverse("incident-resume", args=[incidents["example.com"].pk]))
    body = page.content.decode()
    assert page.status_code == 200 and f'name="cap-{DEMO_SITE_ID}" value="{cap}"' in body

    example = operator_client.post(
        reverse("incident-resume", args=[incidents["example.com"].pk]),
        {"reschedule": "on", "pace": "ramp", f"cap-{DEMO_SITE_ID}": str(cap), "reason": "origin healthy"},
    )
    shop = operator_client.post(
        reverse("incident-resume", args=[incidents[SHOP.site_name].pk]),
        {"reschedule": "on", "pace": "as_it_was"},
    )
    assert (example.status_code, shop.status_code) == (302, 302)
    estate.drain_all()
    resumed = Incident.objects.get(pk=incidents["example.com"].pk)
    assert (resumed.resume_caps, resumed.resume_reason) == ({str(DEMO_SITE_ID): cap}, "origin healthy")

    counts = _per_minute(estate, jobs, 7)
    assert max(counts["example.com"]) <= cap < max(counts[SHOP.site_name])
    # Everything the ramp delayed was still sent, and the busiest minute is the one forecast.
    assert sum(counts["example.com"]) == sum(counts[SHOP.site_name])
    assert max(counts["example.com"]) == load.ramped[1]
    assert max(counts[SHOP.site_name]) == load.as_it_was[1]


def test_a_cap_below_what_one_plan_sends_is_refused_and_changes_nothing(
    estate: Estate, operator: User, operator_client: Client
) -> None:
    _jobs(estate)
    incident = _hold(estate, operator, _site(DEMO_SITE_ID))
    answer = operator_client.post(
        reverse("incident-resume", args=[incident.pk]),
        {"reschedule": "on", "pace": "ramp", f"cap-{DEMO_SITE_ID}": "5"},
    )
    assert answer.status_code == 400
    assert "the cap must be at least 12 URLs a minute" in answer.content.decode()
    for bad, message in (
        ("abc", "is not a whole number of URLs a minute"),
        ("0", "is not a whole number of URLs a minute"),
        ("99999999999", "is not a whole number of URLs a minute"),
    ):
        refused = operator_client.post(
            reverse("incident-resume", args=[incident.pk]), {"pace": "ramp", f"cap-{DEMO_SITE_ID}": bad}
        )
        assert refused.status_code == 400 and message in refused.content.decode()
    unknown = operator_client.post(
        reverse("incident-resume", args=[incident.pk]), {"pace": "ramp", f"cap-{SHOP.site_id}": "100"}
    )
    assert unknown.status_code == 400 and "No plan of site" in unknown.content.decode()
    pace = operator_client.post(reverse("incident-resume", args=[incident.pk]), {"pace": "fast"})
    assert pace.status_code == 400 and "is no way to pace a resume" in pace.content.decode()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.HELD and incident.resume_requested_at is None
    assert not HeldPlan.objects.exclude(resume_action="").exists()
