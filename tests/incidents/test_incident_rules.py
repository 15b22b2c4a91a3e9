"""The rules of holds and resumes that need no worker: scopes, what the resume preview proposes,
what the dashboard refuses on a held site, failures and their retry."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.esa_sim import SEED_SITES
from prefetch_ui.incidents.models import (
    HeldPlan,
    HoldOutcome,
    Incident,
    IncidentStatus,
    ResumeAction,
    StepState,
    holding_now,
)
from prefetch_ui.incidents.services.holds import hold_prepare, hold_preview, hold_request
from prefetch_ui.incidents.services.resumes import IncidentStateError, resume_preview, resume_request
from prefetch_ui.incidents.services.steps import incident_settle, steps_retry_failed
from prefetch_ui.prefetch.models import Plan, PlanStatus, Site
from tests.factories import JobFactory, PlanFactory, SiteFactory

pytestmark = pytest.mark.django_db


def _plans_on(site: Site) -> dict[str, Plan]:
    job = JobFactory.create(site=site, url_count=1000, url_submitted=400)
    now = timezone.now().replace(microsecond=0)
    return {
        status: PlanFactory.create(job=job, status=status, start_time=now - timedelta(minutes=5))
        for status in ("running", "waiting", "finished", "failed", "stopped")
    }


def test_the_preview_counts_what_a_hold_would_do_and_a_second_hold_joins_the_first(
    site: Site, operator: User
) -> None:
    _plans_on(site)
    other = SiteFactory.create(esa_id=SEED_SITES[1].site_id, name=SEED_SITES[1].site_name)
    _plans_on(other)
    preview = hold_preview(site=site)
    assert (preview.running, preview.waiting, preview.finished, preview.stopped) == (1, 1, 2, 1)
    assert preview.to_touch == 2 and preview.held_by is None
    assert hold_preview(site=None).to_touch == 4 and hold_preview(site=None).sites == 2

    incident, created = hold_request(user=operator, site=site, reason=" origin down ")
    assert created and incident.reason == "origin down"
    again, created = hold_request(user=operator, site=site, reason="")
    assert (again.pk, created) == (incident.pk, False)
    assert hold_preview(site=site).held_by == incident

    assert hold_prepare(incident_id=incident.pk) == 2
    assert hold_prepare(incident_id=incident.pk) == 0  # a redelivered task adds nothing
    # Every site: the plans the first incident holds are left to it, and not counted as to touch.
    assert hold_preview(site=None).to_touch == 2 and hold_preview(site=None).held_elsewhere == 2
    everywhere, created = hold_request(user=operator, site=None, reason="")
    assert created
    assert hold_prepare(incident_id=everywhere.pk) == 2
    assert set(HeldPlan.objects.filter(incident=everywhere).values_list("site_id", flat=True)) == {other.pk}
    # A hold of every site again joins it; a site's own hold joins the site's.
    assert hold_request(user=operator, site=None, reason="") == (everywhere, False)
    assert hold_request(user=operator, site=site, reason="")[0] == incident
    assert hold_preview(site=site).held_by == incident
    # A hold of a site that only the every-site hold covers is a hold of its own: it touches
    # nothing now (every plan there is held), and keeps the site held if that one resumes first.
    preview = hold_preview(site=other)
    assert (preview.held_by, preview.covered_by) == (None, everywhere)
    assert (preview.to_touch, preview.held_elsewhere) == (0, 2)
    own, created = hold_request(user=operator, site=other, reason="")
    assert created and own not in (everywhere, incident)
    assert hold_prepare(incident_id=own.pk) == 0


def _held(site: Site, operator: User) -> tuple[Incident, dict[str, Plan]]:
    plans = _plans_on(site)
    incident, _ = hold_request(user=operator, site=site, reason="")
    hold_prepare(incident_id=incident.pk)
    parked_at = timezone.now().replace(microsecond=0) + timedelta(days=365)
    for held in HeldPlan.objects.filter(incident=incident):
        if held.hold_action == "stop":
            held.hold_outcome = HoldOutcome.STOPPED
            Plan.objects.filter(esa_id=held.plan_esa_id).update(status=PlanStatus.STOPPED)
        else:
            held.hold_outcome, held.parked_start, held.parked_end = HoldOutcome.PARKED, parked_at, parked_at
            Plan.objects.filter(esa_id=held.plan_esa_id).update(start_time=parked_at, end_time=parked_at)
        held.state = StepState.DONE
        held.save()
    Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.HELD)
    incident.refresh_from_db()
    return incident, plans


def test_the_resume_preview_says_what_happens_to_each_held_plan(site: Site, operator: User) -> None:
    incident, plans = _held(site, operator)
    lines = {line.held.plan_esa_id: line for line in resume_preview(incident=incident).lines}
    assert lines[plans["running"].esa_id].action == ResumeAction.START
    assert lines[plans["waiting"].esa_id].action == ResumeAction.RESTORE
    assert "its window has begun" in lines[plans["waiting"].esa_id].note

    # The waiting plan's window ends during the hold: offered a reschedule from now, or left to finish.
    HeldPlan.objects.filter(plan_esa_id=plans["waiting"].esa_id).update(original_end=timezone.now())
    passed = next(
        line
        for line in resume_preview(incident=incident).lines
        if line.held.plan_esa_id == plans["waiting"].esa_id
    )
    assert passed.action == ResumeAction.RESCHEDULE and passed.window_passed
    assert "600 unsent URLs" in passed.note
    kept = resume_preview(incident=incident, reschedule=False)
    assert {line.action for line in kept.lines if line.window_passed} == {ResumeAction.RESTORE}
    assert "finishes without sending" in next(line.note for line in kept.lines if line.window_passed)

    # Someone started the stopped plan elsewhere; someone deleted the parked one: both left alone.
    Plan.objects.filter(esa_id=plans["running"].esa_id).update(status=PlanStatus.RUNNING)
    Plan.objects.filter(esa_id=plans["waiting"].esa_id).delete()
    actions = {
        line.held.plan_esa_id: (line.action, line.note) for line in resume_preview(incident=incident).lines
    }
    assert actions[plans["running"].esa_id][0] == ResumeAction.LEAVE
    assert "changed by someone else" in actions[plans["running"].esa_id][1]
    assert actions[plans["waiting"].esa_id] == (ResumeAction.LEAVE, "deleted meanwhile: nothing to resume")

    # Resuming: what is left alone is done at once; with nothing to send, the incident is resumed.
    resume_request(user=operator, incident=incident, reschedule=True)
    assert Incident.objects.get().status in (IncidentStatus.RESUMING, IncidentStatus.RESUMED)
    assert set(HeldPlan.objects.values_list("resume_outcome", flat=True)) == {"left_alone"}
    with pytest.raises(IncidentStateError, match="already"):
        resume_request(user=operator, incident=incident, reschedule=True)


def test_an_incident_still_holding_cannot_be_resumed(site: Site, operator: User) -> None:
    _plans_on(site)
    incident, _ = hold_request(user=operator, site=site, reason="")
    with pytest.raises(IncidentStateError, match="still being applied"):
        resume_request(user=operator, incident=incident, reschedule=True)


def test_a_held_site_refuses_what_would_send_urls_again(
    site: Site, operator: User, operator_client: Client
) -> None:
    incident, plans = _held(site, operator)
    stopped = plans["stopped"]
    refused = operator_client.post(reverse("plan-action", args=[stopped.esa_id, "start"]))
    assert refused.status_code == 409
    assert f"held by incident #{incident.pk}" in refused.content.decode()
    reset = operator_client.post(reverse("job-action", args=[stopped.job.esa_id, "reset"]))
    assert reset.status_code == 409
    edit = operator_client.post(
        reverse("plan-edit", args=[stopped.esa_id]),
        {"start_time": "2030-01-01T00:00", "end_time": "2030-01-01T01:00", "interval": 60, "slice_len": 5},
    )
    assert f"held by incident #{incident.pk}" in edit.content.decode()
    page = operator_client.get(reverse("job-detail", args=[stopped.job.esa_id])).content.decode()
    assert 'data-testid="job-held"' in page and ">Start<" not in page and "Reset job" not in page
    from prefetch_ui.prefetch.models import Operation

    assert not Operation.objects.exists()
    # Stopping and deleting stay possible: they send nothing.
    assert operator_client.post(reverse("plan-action", args=[stopped.esa_id, "delete"])).status_code == 302


def test_failures_are_listed_with_esa_s_answer_and_can_be_sent_again(
    site: Site, operator: User, operator_client: Client
) -> None:
    incident, plans = _held(site, operator)
    held = HeldPlan.objects.get(plan_esa_id=plans["running"].esa_id)
    HeldPlan.objects.filter(pk=held.pk).update(
        state=StepState.FAILED,
        hold_outcome=HoldOutcome.REFUSED,
        error_code="InvalidUid.PermissionDenied",
        error_message="You are not authorized to operate on the specified site.",
        request_id="7A3C-REQUEST",
    )
    page = operator_client.get(reverse("incident-detail", args=[incident.pk])).content.decode()
    assert "InvalidUid.PermissionDenied" in page and "RequestId 7A3C-REQUEST" in page
    assert 'data-testid="incident-retry"' in page and "Retry the 1 failed" in page
    assert steps_retry_failed(incident=incident) == 1
    held.refresh_from_db()
    assert (held.state, held.hold_outcome, held.error_code) == (StepState.PENDING, "", "")
    assert Incident.objects.get().status == IncidentStatus.HOLDING


def test_the_banner_names_the_hold_on_every_page(site: Site, operator: User, viewer_client: Client) -> None:
    incident, _ = _held(site, operator)
    Incident.objects.filter(pk=incident.pk).update(reason="origin 5xx")
    for url in (reverse("home"), reverse("site-detail", args=[site.esa_id]), reverse("incident-list")):
        page = viewer_client.get(url).content.decode()
        assert 'data-testid="hold-banner"' in page, url
        assert "example.com" in page and operator.username in page and "origin 5xx" in page
        assert reverse("incident-detail", args=[incident.pk]) in page


def test_the_incidents_list_is_newest_first_page_after_page(
    operator: User, operator_client: Client, recwarn: pytest.WarningsRecorder
) -> None:
    now = timezone.now()
    for index in range(55):  # 50 a page
        incident = Incident.objects.create(reason=f"incident {index:02d}", status=IncidentStatus.RESUMED)
        Incident.objects.filter(pk=incident.pk).update(held_at=now - timedelta(hours=55 - index))
    first = operator_client.get(reverse("incident-list")).content.decode()
    second = operator_client.get(reverse("incident-list"), {"page": "2"}).content.decode()
    assert first.index("incident 54") < first.index("incident 53") < first.index("incident 05")
    assert "incident 04" in second and "incident 04" not in first and "incident 05" not in second
    assert not [warning for warning in recwarn if "UnorderedObjectListWarning" in str(warning.category)]


def test_a_plan_passed_to_an_incident_that_had_let_it_go_is_held_by_it_again(
    site: Site, operator: User
) -> None:
    """An every-site hold once found the plan finished (a job reset restarted it since, and the
    site's own hold held it): when the site's hold resumes first, the plan passes to the every-site
    hold, whose old row for it now holds it. Nothing is left held by nobody."""
    own, plans = _held(site, operator)
    everywhere, _ = hold_request(user=operator, site=None, reason="")
    hold_prepare(incident_id=everywhere.pk)
    plan = plans["running"]
    HeldPlan.objects.create(
        incident=everywhere,
        plan=plan,
        plan_esa_id=plan.esa_id,
        job_esa_id=plan.job.esa_id,
        site=site,
        label="earlier",
        original_status="finished",
        interval=plan.interval,
        slice_len=plan.slice_len,
        hold_action="stop",
        hold_outcome=HoldOutcome.ALREADY_FINISHED,
        state=StepState.DONE,
    )
    Incident.objects.filter(pk=everywhere.pk).update(status=IncidentStatus.HELD)

    resume_request(user=operator, incident=own, reschedule=True)
    row = HeldPlan.objects.get(incident=everywhere, plan_esa_id=plan.esa_id)
    assert (row.hold_outcome, row.found_by, row.passed_from_id) == (HoldOutcome.STOPPED, "passed", own.pk)
    assert HeldPlan.objects.filter(holding_now(), plan_esa_id=plan.esa_id).get() == row


def test_a_resume_asked_while_the_sweep_settles_the_held_incident_is_not_marked_resumed(
    site: Site, operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by make bench-incident: the sweep settles every open incident each second; a resume
    committed between its "nothing left?" and its update was marked resumed with 500 steps pending."""
    incident, _ = _held(site, operator)
    real_now = timezone.now
    asked: list[bool] = []

    def now_with_a_resume_in_between() -> datetime:
        if not asked:
            asked.append(True)
            resume_request(user=operator, incident=incident, reschedule=True)
        return real_now()

    monkeypatch.setattr(timezone, "now", now_with_a_resume_in_between)
    incident_settle(incident_id=incident.pk)
    incident.refresh_from_db()
    assert asked and incident.status == IncidentStatus.RESUMING and incident.resumed_at is None
    assert HeldPlan.objects.filter(incident=incident, state=StepState.PENDING).count() == 2


def test_a_plan_still_parked_by_an_earlier_incident_is_held_with_its_original_window(
    site: Site, operator: User
) -> None:
    """Found by the property test's search: a resume whose steps ESA refused leaves plans parked; a
    later hold must keep their original window, not the park's, or its resume never runs them."""
    first, plans = _held(site, operator)
    waiting = plans["waiting"]
    HeldPlan.objects.filter(incident=first).update(resume_action="restore", resume_outcome="refused")
    Incident.objects.filter(pk=first.pk).update(status=IncidentStatus.RESUMED)
    parked = Plan.objects.get(pk=waiting.pk)
    assert parked.start_time != waiting.start_time  # still where the first hold put it

    second, _ = hold_request(user=operator, site=site, reason="")
    hold_prepare(incident_id=second.pk)
    row = HeldPlan.objects.get(incident=second, plan_esa_id=waiting.esa_id)
    assert (row.original_start, row.original_end) == (waiting.start_time, waiting.end_time)
    assert row.original_status == "waiting"
