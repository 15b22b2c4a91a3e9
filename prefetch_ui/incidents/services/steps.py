"""The work of an incident: one step per held plan, carried out by drainers in the workers.

The database is the queue. A drainer (a Celery task on the `incidents` queue) claims the next
pending step with a conditional update, makes its ESA calls, records the outcome and claims the
next, until none is left; several drainers, in one or many worker processes, share the steps. A
claim names its worker process; a process that stops beating (`prefetch_ui.core.workers`) loses
its claims, which go back to pending at once, so a killed worker delays nothing but the plan it
was on. Every ESA call draws on the shared budget (`prefetch_ui.esa_budget`) through the client.
How many drainers an incident has, and sending them, is `drainers`' business; which calls a step
makes, and what they come to, is `step_calls`'.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import redis
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from prefetch_ui.core.workers import live_workers, worker_id
from prefetch_ui.esa import EsaClient
from prefetch_ui.prefetch.models import Plan, PlanStatus
from prefetch_ui.prefetch.services.mirror_writes import plan_answers_mirror

from ..models import (
    CLAIM_ORDER,
    UNSETTLED_STEP_STATES,
    HeldPlan,
    HoldAction,
    Incident,
    IncidentStatus,
    ResumeAction,
    ResumeOutcome,
    StepState,
)
from .changes import incident_redrawn, incident_version_next

# Re-exported: the queue's name and the dispatch are imported from here by the rest of the app.
from .drainers import INCIDENTS_QUEUE as INCIDENTS_QUEUE
from .drainers import drainer_end, drainer_start
from .drainers import drainers_dispatch as drainers_dispatch
from .scopes import held_plan_pass, hold_changes_serialized, hold_covering, pass_note
from .step_calls import StepCalls, StepOutcome, step_calls_make

logger = logging.getLogger(__name__)

# A claim older than this is taken back even from a live worker (a drainer that died by a bug).
CLAIM_TIMEOUT = timedelta(minutes=5)
# Steps a drainer claims at once, and records at once: each write transaction waits its turn for
# the database's write lock (SQLite's is one for the whole file), so a drainer that wrote once a
# step was paced by the database, not by ESA: 135 calls a second at a budget of 200.
STEPS_A_CLAIM = 4


def _answers_mirrored(calls: Iterable[StepCalls]) -> None:
    """Write the answers these steps got from ESA into the mirror, in one write (`plan_answers_mirror`
    compares their bases there); each answer once."""
    calls = list(calls)
    answers = [answer for each in calls for answer in each.answers]
    if answers:
        plan_answers_mirror(answers=answers, now=timezone.now())
    for each in calls:
        each.answers = []


# -- claiming and carrying out ---------------------------------------------------------------


def step_claim(*, incident_id: int, worker: str) -> HeldPlan | None:
    """Claim the incident's next pending step for `worker` (None: none is left)."""
    claimed = steps_claim(incident_id=incident_id, worker=worker, count=1)
    return claimed[0] if claimed else None


def steps_claim(*, incident_id: int, worker: str, count: int = STEPS_A_CLAIM) -> list[HeldPlan]:
    """Claim up to `count` of the incident's next pending steps for `worker`; the drainers' loop."""
    with transaction.atomic():
        # The incident's row first, as every writer of its steps takes it: the page shows the
        # steps "In progress".
        claimed = _next_claimed(incident_id, worker, incident_version_next(incident_id=incident_id), count)
        if not claimed:
            transaction.set_rollback(True)  # nothing left to claim: nothing changed
    return claimed


def _next_claimed(incident_id: int, worker: str, version: int, count: int) -> list[HeldPlan]:
    """Claim the next `count` pending steps, in the caller's transaction, which took the incident's
    version.

    That version is the incident's row, held until the commit: every claimer and every writer of the
    incident's steps waits for it, so the steps read here are as they are, and the claim cannot
    lose a race (the update is conditional all the same, and what it missed is read again)."""
    if count < 1:
        return []
    candidates = list(
        HeldPlan.objects.filter(incident_id=incident_id, state=StepState.PENDING).order_by(*CLAIM_ORDER)[
            :count
        ]
    )
    if not candidates:
        return []
    now = timezone.now()
    pks = [held.pk for held in candidates]
    taken = HeldPlan.objects.filter(pk__in=pks, state=StepState.PENDING).update(
        state=StepState.CLAIMED,
        claimed_by=worker,
        claimed_at=now,
        attempts=F("attempts") + 1,
        version=version,
    )
    if taken < len(candidates):  # cannot happen under the incident's row; read what was taken
        candidates = list(HeldPlan.objects.filter(pk__in=pks, claimed_by=worker, claimed_at=now))
    else:
        for held in candidates:
            held.state, held.claimed_by, held.claimed_at = StepState.CLAIMED, worker, now
            held.attempts, held.version = held.attempts + 1, version
    incident = Incident.objects.get(pk=incident_id)  # its phase, as it is under the lock
    for held in candidates:
        held.incident = incident
    return candidates


def step_execute(*, held: HeldPlan, client: EsaClient, worker: str) -> None:
    """Make one claimed step's ESA calls and record the outcome; a transient failure goes back to
    pending (the drainers' loop does the same for several at once: `steps_execute`)."""
    outcome = _step_calls(held, client, worker)
    if outcome is not None:
        _steps_recorded([outcome], worker, claim=0)


def steps_execute(
    *, held_steps: list[HeldPlan], client: EsaClient, worker: str, claim: int
) -> list[HeldPlan]:
    """Make the calls of each of these claimed steps, then record every outcome and claim up to
    `claim` next steps in one transaction; returns the steps claimed (a drainer's loop: one write
    transaction for `STEPS_A_CLAIM` steps, which the database's write lock would otherwise queue)."""
    outcomes = [outcome for held in held_steps if (outcome := _step_calls(held, client, worker))]
    if not outcomes:
        return (
            steps_claim(incident_id=held_steps[0].incident_id, worker=worker, count=claim)
            if held_steps and claim
            else []
        )
    return _steps_recorded(outcomes, worker, claim=claim)


def _step_calls(held: HeldPlan, client: EsaClient, worker: str) -> StepOutcome | None:
    """Make the step's ESA calls (None: a resume step passed on to another hold instead, recorded).

    A resume step first asks whether another hold covers the plan's site now (one may have begun
    since the resume was asked for): the plan then stays held, by that hold, and nothing is sent.
    """
    resuming = held.incident.phase == "resume"
    if resuming and _passed_on_instead(held, worker):
        return None
    return step_calls_make(held=held, client=client, worker=worker)


def _put_back(outcome: StepOutcome) -> bool:
    return (
        outcome.held.incident.phase == "resume"
        and outcome.fields.get("state") == StepState.DONE
        and outcome.fields.get("resume_outcome") in _PUT_BACK
    )


def _steps_recorded(outcomes: list[StepOutcome], worker: str, *, claim: int) -> list[HeldPlan]:
    """Record the outcomes of one incident's steps, write ESA's answers into the mirror and claim up
    to `claim` next steps, in one transaction. Its rows are taken in the order every writer takes
    them (the hold lock, incidents, then the site's row in the mirror's writes), so that two writers
    never wait in a circle. A step whose claim was taken back meanwhile is not recorded (another
    drainer does it again); what ESA answered goes into the mirror all the same."""
    incident_id = outcomes[0].held.incident_id
    claimed: list[HeldPlan] = []
    with transaction.atomic():
        if any(_put_back(outcome) for outcome in outcomes):
            hold_changes_serialized()
        dispatch: set[int] = set()
        for outcome in outcomes:
            if not _put_back(outcome):
                continue
            # Put back in the instant another hold began: that hold holds it again at once.
            handed_to = _hand_over_put_back(outcome.held, status=outcome.calls.last_status())
            if handed_to is not None:
                dispatch.add(handed_to.pk)
                outcome.fields["passed_to"] = handed_to
                outcome.fields["resume_note"] = (
                    f"{outcome.held.resume_note}; held again at once by incident #{handed_to.pk}, "
                    "which began while it was put back"
                ).lstrip("; ")[:255]
        version = incident_version_next(incident_id=incident_id)
        recorded = 0
        for outcome in outcomes:
            recorded += HeldPlan.objects.filter(
                pk=outcome.held.pk, state=StepState.CLAIMED, claimed_by=worker
            ).update(
                **outcome.fields, calls=outcome.calls.log, claimed_by="", claimed_at=None, version=version
            )
        if recorded:
            _answers_mirrored(outcome.calls for outcome in outcomes)
            for to_id in sorted(dispatch):
                transaction.on_commit(lambda to_id=to_id: drainers_dispatch(incident_id=to_id))  # type: ignore[misc]
            claimed = _next_claimed(incident_id, worker, version, claim)
        else:
            transaction.set_rollback(True)  # every claim was taken back meanwhile: nothing changed ...
    _answers_mirrored(outcome.calls for outcome in outcomes)  # ... but what ESA answered is so all the same
    return claimed


_PUT_BACK = (ResumeOutcome.STARTED, ResumeOutcome.RESTORED, ResumeOutcome.RESCHEDULED)


def _passed_on_instead(held: HeldPlan, worker: str) -> bool:
    """If another hold covers the plan's site now, pass the plan to it instead of putting it back."""
    # A look without the lock first: most resumes overlap no hold, and the lock would queue every
    # step behind it. A hold that begins after this look is met by the hand-over after the calls.
    if hold_covering(site_id=held.site_id, besides=held.incident_id) is None:
        return False
    with transaction.atomic():
        hold_changes_serialized()
        covering = hold_covering(site_id=held.site_id, besides=held.incident_id)
        if covering is None:
            return False
        held_plan_pass(
            held=held, to=covering, version=incident_version_next(incident_id=covering.pk, whole=True)
        )
        version = incident_version_next(incident_id=held.incident_id)
        if not HeldPlan.objects.filter(pk=held.pk, state=StepState.CLAIMED, claimed_by=worker).update(
            state=StepState.DONE,
            resume_action=ResumeAction.PASS,
            resume_outcome=ResumeOutcome.PASSED,
            resume_note=pass_note(to=covering)[:255],
            passed_to=covering,
            claimed_by="",
            claimed_at=None,
            version=version,
        ):
            transaction.set_rollback(True)  # the claim was taken back meanwhile: nothing changed
        return True


def _hand_over_put_back(held: HeldPlan, *, status: str | None) -> Incident | None:
    """After a resume step put its plan back: the hold that covers its site now, if any, gets a
    step to hold it again (the caller holds the lock, in the transaction that records the step).
    `status`: the plan's as ESA last answered the step (None: as the mirror has it)."""
    covering = hold_covering(site_id=held.site_id, besides=held.incident_id)
    if covering is None:
        return None
    if status is None:
        status = Plan.objects.filter(esa_id=held.plan_esa_id).values_list("status", flat=True).first()
    action = HoldAction.STOP if status == PlanStatus.RUNNING else HoldAction.PARK
    version = incident_version_next(incident_id=covering.pk, whole=True)
    held_plan_pass(held=held, to=covering, version=version, pending_hold=action)
    Incident.objects.filter(pk=covering.pk, status=IncidentStatus.HELD).update(
        status=IncidentStatus.HOLDING, hold_done_at=None
    )
    return covering


def lost_claims_release(*, incident_id: int | None = None, now: datetime | None = None) -> int:
    """Claims of worker processes that stopped beating (or of a stuck drainer) go back to pending."""
    now = now or timezone.now()
    claimed = HeldPlan.objects.filter(state=StepState.CLAIMED)
    if incident_id is not None:
        claimed = claimed.filter(incident_id=incident_id)
    try:
        alive = set(live_workers())
    except redis.RedisError:
        alive = None  # cannot tell who is alive: only the timeout applies
    lost = Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    if alive is not None:
        lost |= ~Q(claimed_by__in=alive)
    released = 0
    incident_ids = claimed.filter(lost).values_list("incident_id", flat=True).distinct().order_by()
    for each in sorted(incident_ids):
        with transaction.atomic():
            version = incident_version_next(incident_id=each)
            released += claimed.filter(lost, incident_id=each).update(
                state=StepState.PENDING, claimed_by="", claimed_at=None, version=version
            )
    return released


def incident_settle(*, incident_id: int) -> None:
    """Once no step of the current phase is left, the hold is in place (or the resume done).

    One statement each, conditional on no step being unsettled at that moment: a look first and an
    update after would let a resume committed in between (its steps pending) be marked resumed.
    """
    now = timezone.now()
    unsettled = HeldPlan.objects.filter(incident_id=OuterRef("pk"), state__in=UNSETTLED_STEP_STATES)
    settled = Incident.objects.filter(~Exists(unsettled), pk=incident_id)
    settled.filter(status=IncidentStatus.HOLDING, planned_at__isnull=False).update(
        status=IncidentStatus.HELD, hold_done_at=now, **incident_redrawn()
    )
    settled.filter(status=IncidentStatus.RESUMING).update(
        status=IncidentStatus.RESUMED, resumed_at=now, **incident_redrawn()
    )


def incident_drain(*, incident_id: int, client: EsaClient, reservation: str | None = None) -> int:
    """Carry out the incident's pending steps until none is left; returns how many this drainer did.

    `reservation` is the drainer's place, made by `drainers_dispatch` when it was sent (None: a
    direct call). A drainer that finds no place left for it ends at once, doing nothing: the
    incident has its number of drainers without it.
    """
    worker = worker_id()
    token = drainer_start(incident_id=incident_id, reservation=reservation, worker=worker)
    if token is None:
        logger.info("incident %s: a drainer found its place taken and ended", incident_id)
        return 0
    done = 0
    held_steps: list[HeldPlan] = []
    try:
        while True:
            held_steps = held_steps or steps_claim(incident_id=incident_id, worker=worker)
            if not held_steps:
                if lost_claims_release(incident_id=incident_id):
                    continue
                break
            done += len(held_steps)
            held_steps = steps_execute(
                held_steps=held_steps, client=client, worker=worker, claim=STEPS_A_CLAIM
            )
    finally:
        drainer_end(incident_id=incident_id, token=token)
    incident_settle(incident_id=incident_id)
    return done


def steps_retry_failed(*, incident: Incident) -> int:
    """Send the failed steps of the current phase again (drainers go once committed); returns how many."""
    failed = HeldPlan.objects.filter(incident=incident, state=StepState.FAILED)
    if incident.phase == "hold":
        outcome = {"hold_outcome": ""}
    else:  # a plan whose hold failed has nothing to resume
        outcome, failed = {"resume_outcome": ""}, failed.exclude(resume_action="")
    with transaction.atomic():
        # The incident holds or resumes again: its page is drawn again as a whole.
        version = incident_version_next(incident_id=incident.pk, whole=True)
        count = failed.update(
            state=StepState.PENDING, attempts=0, error_code="", error_message="", version=version, **outcome
        )
        if not count:
            transaction.set_rollback(True)  # nothing changed: nor does the incident's version
            return 0
        if incident.status == IncidentStatus.HELD:
            Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.HOLDING, hold_done_at=None)
        elif incident.status == IncidentStatus.RESUMED:
            Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.RESUMING, resumed_at=None)
        incident_id = incident.pk
        transaction.on_commit(lambda: drainers_dispatch(incident_id=incident_id))
    return count
