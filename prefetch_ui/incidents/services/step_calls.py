"""What one step of an incident does to its plan: which ESA calls it makes, and how ESA's answers
(or refusals) become the step's outcome. Claiming, recording and draining the steps is `steps`'.

Which call a step makes follows ESA's rules (docs/esa-api.md#stop, #update, #refusals): Stop
applies only to a running plan, so a waiting plan is held by moving its window
`PREFETCH_HOLD_PARK_DAYS` ahead. When ESA refuses a call, the step reads the plan's real state and
acts on that, not on the refusal's code, which ESA does not publish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from prefetch_ui.esa import (
    EsaApiError,
    EsaClient,
    EsaError,
    EsaNotFoundError,
    EsaServerError,
    EsaThrottledError,
    EsaTransportError,
    PlanSpec,
)
from prefetch_ui.esa import Plan as EsaPlan
from prefetch_ui.prefetch.models import ESA_CODE_LENGTH, ESA_REQUEST_ID_LENGTH
from prefetch_ui.prefetch.services.mirror_rows import mirror_basis

from ..models import HeldPlan, HoldAction, HoldOutcome, ResumeAction, ResumeOutcome, StepState

logger = logging.getLogger(__name__)

MAX_STEP_ATTEMPTS = 6
_TRANSIENT = (EsaThrottledError, EsaServerError, EsaTransportError)


class StepCalls:
    """The ESA calls one step makes, for its record, and ESA's answers about the plan, for the
    mirror: written in the transaction that records the step (one write a step, not one a call)."""

    def __init__(self, held: HeldPlan, worker: str) -> None:
        self.log: list[dict[str, Any]] = list(held.calls)
        self.worker = worker
        self.answers: list[tuple[EsaPlan, datetime]] = []  # the plan as ESA said, and the basis

    def answered(self, plan: EsaPlan, *, basis: datetime) -> None:
        self.answers.append((plan, basis))

    def last_status(self) -> str | None:
        return self.answers[-1][0].status if self.answers else None

    def made(self, action: str, *, request_id: str = "", error: EsaError | None = None) -> None:
        self.log.append(
            {
                "action": action,
                "request_id": request_id or getattr(error, "request_id", ""),
                "code": getattr(error, "code", "") if error else "OK",
                "at": timezone.now().isoformat(),
                "worker": self.worker,
            }
        )


def _call(calls: StepCalls, action: str, send: Callable[[], EsaPlan]) -> EsaPlan:
    try:
        answer = send()
    except EsaError as error:
        calls.made(action, error=error)
        raise
    calls.made(action, request_id=answer.request_id)
    calls.answered(answer, basis=mirror_basis())
    return answer


def _current(client: EsaClient, held: HeldPlan, calls: StepCalls) -> EsaPlan | None:
    """The plan as ESA has it now (None: deleted), read from its job's listing."""
    asked = mirror_basis()
    try:
        listing = client.list_scheduled_preload_executions(held.job_esa_id)
    except EsaNotFoundError as error:
        calls.made("ListScheduledPreloadExecutions", error=error)
        return None
    calls.made("ListScheduledPreloadExecutions", request_id=listing.request_id)
    for plan in listing.items:
        if plan.id == held.plan_esa_id:
            calls.answered(plan, basis=asked)
            return plan
    return None


# -- the hold ----------------------------------------------------------------------------------


def park_window(*, held: HeldPlan, now: datetime) -> tuple[datetime, datetime]:
    """Where a waiting plan's window goes while held: out of reach, with its own length."""
    start = (now + timedelta(days=settings.PREFETCH_HOLD_PARK_DAYS)).replace(microsecond=0)
    return start, start + _window_length(held)


def _window_length(held: HeldPlan) -> timedelta:
    if held.original_start and held.original_end and held.original_end > held.original_start:
        return held.original_end - held.original_start
    return timedelta(0)


def _hold(held: HeldPlan, client: EsaClient, calls: StepCalls) -> dict[str, object]:
    plan_id = held.plan_esa_id
    fields: dict[str, object] = {}
    action = held.hold_action
    parked: tuple[datetime, datetime] | None = None
    for _ in range(3):  # a plan can change state under us; act on what ESA says it is now
        try:
            if action == HoldAction.STOP:
                stopped = _call(
                    calls,
                    "StopScheduledPreloadExecution",
                    lambda: client.stop_scheduled_preload_execution(plan_id),
                )
                if parked or held.parked_start is not None:
                    # Stopped where it was when it escaped from its park (someone moved its window
                    # back, in the console): the resume gives it its original window back.
                    fields |= {"parked_start": stopped.start_time, "parked_end": stopped.end_time}
                return fields | {"hold_outcome": HoldOutcome.STOPPED}
            parked = parked or park_window(held=held, now=timezone.now())
            answer = _call(
                calls,
                "UpdateScheduledPreloadExecution",
                lambda: client.update_scheduled_preload_execution(plan_id, _spec(held, parked)),  # noqa: B023
            )
            fields |= {"parked_start": parked[0], "parked_end": parked[1]}
            if answer.status != "running":
                return fields | {"hold_outcome": HoldOutcome.PARKED}
            # It fired before its window moved: a running plan keeps going until stopped.
            action = HoldAction.STOP
        except EsaNotFoundError:
            return fields | {"hold_outcome": HoldOutcome.GONE}
        except _TRANSIENT:
            raise
        except EsaApiError:
            # Refused: find out what the plan is now, and do what that state needs.
            current = _current(client, held, calls)
            if current is None:
                return fields | {"hold_outcome": HoldOutcome.GONE}
            if current.status in ("finished", "failed"):
                return fields | {"hold_outcome": HoldOutcome.ALREADY_FINISHED}
            if current.status == "stopped":
                # Stopped by an earlier attempt of ours whose answer was lost, most likely: held.
                return fields | {"hold_outcome": HoldOutcome.STOPPED}
            if current.status == "running":
                action = HoldAction.STOP
            elif action == HoldAction.STOP:  # waiting: ESA cannot stop it, so park it
                action = HoldAction.PARK
            else:
                raise
    raise EsaTransportError(f"plan {plan_id} kept changing state while being held")


def _spec(held: HeldPlan, window: tuple[datetime, datetime]) -> PlanSpec:
    """The plan with another window, and its own rate."""
    return PlanSpec(
        start_time=window[0], end_time=window[1], interval=held.interval, slice_len=held.slice_len
    )


# -- the resume --------------------------------------------------------------------------------


def reschedule_window(*, held: HeldPlan, now: datetime) -> tuple[datetime, datetime]:
    """A passed window moved to start shortly after now, with its original length and rate."""
    start = (now + timedelta(seconds=settings.PREFETCH_RESCHEDULE_LEAD_SECONDS)).replace(microsecond=0)
    return start, start + _window_length(held)


def _resume(held: HeldPlan, client: EsaClient, calls: StepCalls) -> dict[str, object]:
    plan_id = held.plan_esa_id
    action = held.resume_action
    needs_start = held.hold_outcome == HoldOutcome.STOPPED
    outcome = {
        ResumeAction.START: ResumeOutcome.STARTED,
        ResumeAction.RESTORE: ResumeOutcome.RESTORED,
        ResumeAction.RESCHEDULE: ResumeOutcome.RESCHEDULED,
    }[ResumeAction(action)]
    try:
        if held.resume_start is not None or action in (ResumeAction.RESTORE, ResumeAction.RESCHEDULE):
            now = timezone.now()
            if held.resume_start is not None and held.resume_end is not None:
                window = (held.resume_start, held.resume_end)  # the ramp's, chosen at the request
            elif action == ResumeAction.RESCHEDULE:
                window = reschedule_window(held=held, now=now)
            else:
                window = (held.original_start or now, held.original_end or now)
            spec = _spec(held, window)
            answer = _call(
                calls,
                "UpdateScheduledPreloadExecution",
                lambda: client.update_scheduled_preload_execution(plan_id, spec),
            )
            needs_start = needs_start and answer.status == "stopped"
        if needs_start:
            _call(
                calls,
                "StartScheduledPreloadExecution",
                lambda: client.start_scheduled_preload_execution(plan_id),
            )
        return {"resume_outcome": outcome}
    except EsaNotFoundError:
        return {"resume_outcome": ResumeOutcome.GONE}
    except _TRANSIENT:
        raise
    except EsaApiError:
        current = _current(client, held, calls)
        if current is None:
            return {"resume_outcome": ResumeOutcome.GONE}
        if action == ResumeAction.START and current.status in ("waiting", "running"):
            # Started already (an earlier attempt of ours, or someone else): nothing to put back.
            return {"resume_outcome": ResumeOutcome.STARTED}
        raise


# -- what the calls came to ------------------------------------------------------------------


@dataclass(slots=True)
class StepOutcome:
    """What a step's ESA calls came to, for the transaction that records it."""

    held: HeldPlan
    fields: dict[str, object]
    calls: StepCalls


def step_calls_make(*, held: HeldPlan, client: EsaClient, worker: str) -> StepOutcome:
    """Make the claimed step's ESA calls, hold or resume as its incident's phase says, and turn what
    they came to into the step's fields: done, pending again after a transient failure (until
    `MAX_STEP_ATTEMPTS`), or failed."""
    resuming = held.incident.phase == "resume"
    calls = StepCalls(held, worker)
    fields: dict[str, object]
    try:
        fields = _resume(held, client, calls) if resuming else _hold(held, client, calls)
    except EsaError as error:
        transient = isinstance(error, _TRANSIENT) and held.attempts < MAX_STEP_ATTEMPTS
        fields = {
            "state": StepState.PENDING if transient else StepState.FAILED,
            "error_code": (getattr(error, "code", "") or type(error).__name__)[:ESA_CODE_LENGTH],
            "error_message": (getattr(error, "message", "") or str(error))[:2000],
            "request_id": getattr(error, "request_id", "")[:ESA_REQUEST_ID_LENGTH],
        }
        if not transient and held.incident.phase == "hold":
            fields["hold_outcome"] = HoldOutcome.REFUSED
        elif not transient:
            fields["resume_outcome"] = ResumeOutcome.REFUSED
    except Exception as error:  # a bug or the database: recorded, never left claimed
        logger.exception("incident step %s failed unexpectedly", held.pk)
        fields = {
            "state": StepState.FAILED,
            "error_code": type(error).__name__,
            "error_message": str(error)[:2000],
        }
    else:
        last = calls.log[-1] if calls.log else {}
        fields |= {
            "state": StepState.DONE,
            "error_code": "",
            "error_message": "",
            "request_id": last.get("request_id", "")[:ESA_REQUEST_ID_LENGTH],
        }
    return StepOutcome(held, fields, calls)
