"""Incidents: a hold of all prefetch on one site or on every site, and its resume.

ESA has no "stop all", and it stops only *running* plans. A hold therefore stops each running plan
and parks each waiting one (moves its window out of reach with UpdateScheduledPreloadExecution),
remembering every plan's original state, so that the resume puts back exactly what was held.

Each plan touched is a `HeldPlan`: the record of what was done to it and the unit of work that
workers carry out (pending → claimed → done | failed), first for the hold, then for the resume.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from prefetch_ui.prefetch.models import ESA_CODE_LENGTH, ESA_REQUEST_ID_LENGTH, Plan, Site


class IncidentStatus(models.TextChoices):
    HOLDING = "holding", "Holding"  # the hold is being applied
    HELD = "held", "Held"  # every plan of the scope is held
    RESUMING = "resuming", "Resuming"
    RESUMED = "resumed", "Resumed"


# While an incident is in one of these, its scope is held: the sync holds whatever starts there.
HOLD_ACTIVE_STATUSES = (IncidentStatus.HOLDING, IncidentStatus.HELD)
OPEN_INCIDENT_STATUSES = (IncidentStatus.HOLDING, IncidentStatus.HELD, IncidentStatus.RESUMING)


class Incident(models.Model):
    # None: every site.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents")
    reason = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.HOLDING, db_index=True
    )
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="incidents_held"
    )
    held_at = models.DateTimeField(auto_now_add=True)
    # Who held, when it was not `held_by` on a page: "token NAME of USER", "alert NAME via receiver R".
    held_via = models.CharField(max_length=255, blank=True)
    # When the plans to hold were listed (a worker does it after the click), and when the last one was.
    planned_at = models.DateTimeField(null=True, blank=True)
    hold_done_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incidents_resumed",
    )
    resumed_via = models.CharField(max_length=255, blank=True)
    resume_requested_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resume_reason = models.TextField(blank=True)
    # How the resume paces what it puts back, per site: {site ESA id (str): cap in URLs a minute};
    # empty: as it was (every plan put back at once, as scheduled).
    resume_caps = models.JSONField(default=dict, blank=True)
    # Change versions of the incident's page (services/changes.py): `version` counts every change
    # it shows; `layout_version` is the last that changes it as a whole (its status or phase, its
    # list of plans' shape). A step's row carries the version that last changed it.
    version = models.PositiveBigIntegerField(default=0)
    layout_version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-held_at", "-id"]

    def __str__(self) -> str:
        return f"incident #{self.pk}: hold of {self.scope_label} ({self.status})"

    @property
    def scope_label(self) -> str:
        return self.site.name if self.site is not None else "every site"

    @property
    def held_by_label(self) -> str:
        """Who held, as pages and the audit log say it: the API token or alert, else the username."""
        return self.held_via or (self.held_by.get_username() if self.held_by is not None else "")

    @property
    def resumed_by_label(self) -> str:
        return self.resumed_via or (self.resumed_by.get_username() if self.resumed_by is not None else "")

    @property
    def hold_is_active(self) -> bool:
        return self.status in HOLD_ACTIVE_STATUSES

    @property
    def phase(self) -> str:
        return "resume" if self.status in (IncidentStatus.RESUMING, IncidentStatus.RESUMED) else "hold"


class IncidentHolder(models.Model):
    """One request to hold an incident's scope: the one that opened it, and each that joined it.

    A hold of a scope already held joins the incident holding it, so an incident can have several
    holders: people, API tokens, alerts. `key` names a holder that may let go by itself (an alert:
    "alert:RECEIVER:FINGERPRINT"); a person's is empty. An alert's resolve resumes the incident
    only when no other holder is left (`released_at` unset).
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="holders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    via = models.CharField(max_length=255, blank=True)
    key = models.CharField(max_length=255, blank=True, db_index=True)
    reason = models.TextField(blank=True)
    opened = models.BooleanField(default=False)  # this request opened the incident
    held_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["held_at", "id"]

    def __str__(self) -> str:
        who = self.via or (self.user.get_username() if self.user is not None else "-")
        return f"holder of incident #{self.incident_id}: {who}"


class HoldAction(models.TextChoices):
    STOP = "stop", "Stop"  # running: StopScheduledPreloadExecution
    PARK = "park", "Park"  # waiting: move the window out of reach


class HoldOutcome(models.TextChoices):
    STOPPED = "stopped", "Stopped"
    PARKED = "parked", "Held (window moved)"
    ALREADY_FINISHED = "already_finished", "Already finished"
    ALREADY_STOPPED = "already_stopped", "Already stopped by someone else"
    GONE = "gone", "Deleted in ESA"
    REFUSED = "refused", "Refused by ESA"


# Outcomes after which the plan is held by this incident, and the resume has something to put back.
HELD_OUTCOMES = (HoldOutcome.STOPPED, HoldOutcome.PARKED)
# Outcomes after which the incident does not hold the plan: nothing of it to put back.
NOT_HELD_OUTCOMES = (
    HoldOutcome.ALREADY_FINISHED,
    HoldOutcome.ALREADY_STOPPED,
    HoldOutcome.GONE,
    HoldOutcome.REFUSED,
)


class ResumeAction(models.TextChoices):
    START = "start", "Start"  # stopped by the hold: StartScheduledPreloadExecution
    RESTORE = "restore", "Restore its window"
    RESCHEDULE = "reschedule", "Reschedule from now"
    LEAVE = "leave", "Leave alone"
    # Another active incident still covers its site: it stays held, now by that incident.
    PASS = "pass", "Stays held"


class ResumeOutcome(models.TextChoices):
    STARTED = "started", "Started"
    RESTORED = "restored", "Window restored"
    RESCHEDULED = "rescheduled", "Rescheduled from now"
    LEFT_ALONE = "left_alone", "Left alone"
    PASSED = "passed", "Stays held by another incident"
    GONE = "gone", "Deleted in ESA"
    REFUSED = "refused", "Refused by ESA"


class StepState(models.TextChoices):
    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "In progress"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


UNSETTLED_STEP_STATES = (StepState.PENDING, StepState.CLAIMED)


class FoundBy(models.TextChoices):
    HOLD = "hold", "the hold"
    SYNC = "sync", "the sync, during the hold"
    PASSED = "passed", "another incident's resume, which passed it on"


# Lower priority first (running plans: they submit URLs now), then by start, an unknown one last.
STEPS_IN_ORDER = ("priority", models.F("original_start").asc(nulls_last=True), "id")
# The order drainers claim steps in: the same, but served by an index on both databases, so that a
# claim reads one row, not every pending step of the incident sorted (6-8 ms a claim with 5,000
# pending). "Nulls last" would need the sort on SQLite; a plan without a start time is rare, and
# whether it is claimed first (SQLite) or last (PostgreSQL) changes nothing it does.
CLAIM_ORDER = ("priority", "original_start", "id")


def holding_now() -> Q:
    """The `HeldPlan` rows whose incident holds their plan now (or is about to: its hold step is
    under way): the incident is open, the hold did not find the plan settled, deleted or refused,
    and the resume has not put it back yet (nor passed it to another incident). A plan has at most
    one such row: holds that overlap pass plans between them instead of holding them twice."""
    return (
        Q(incident__status__in=OPEN_INCIDENT_STATUSES, resume_outcome="")
        & ~Q(hold_outcome__in=NOT_HELD_OUTCOMES)
        & ~Q(state=StepState.FAILED, hold_outcome="")
    )


class HeldPlan(models.Model):
    """One plan an incident touched: its original state, what the hold and the resume did to it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="held_plans")
    plan = models.ForeignKey(Plan, on_delete=models.SET_NULL, null=True, blank=True, related_name="holds")
    plan_esa_id = models.CharField(max_length=24)
    job_esa_id = models.CharField(max_length=24)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="held_plans")
    label = models.CharField(max_length=255)
    found_by = models.CharField(max_length=8, choices=FoundBy.choices, default=FoundBy.HOLD)
    # The plan as it was before the hold touched it.
    original_status = models.CharField(max_length=16)
    original_start = models.DateTimeField(null=True)
    original_end = models.DateTimeField(null=True)
    interval = models.PositiveIntegerField()
    slice_len = models.PositiveIntegerField()
    # The hold.
    hold_action = models.CharField(max_length=8, choices=HoldAction.choices)
    hold_outcome = models.CharField(max_length=20, choices=HoldOutcome.choices, blank=True)
    parked_start = models.DateTimeField(null=True, blank=True)
    parked_end = models.DateTimeField(null=True, blank=True)
    # Times the sync found it running or unparked again during the hold, and held it again.
    rehold_count = models.PositiveIntegerField(default=0)
    # The resume.
    resume_action = models.CharField(max_length=12, choices=ResumeAction.choices, blank=True)
    resume_outcome = models.CharField(max_length=12, choices=ResumeOutcome.choices, blank=True)
    resume_note = models.CharField(max_length=255, blank=True)
    # The window the resume gives the plan (a reschedule, or a ramp's staggered start); None: the
    # action's own (its original window, or started as it is).
    resume_start = models.DateTimeField(null=True, blank=True)
    resume_end = models.DateTimeField(null=True, blank=True)
    # Holds that overlap: the incident this plan came from (it resumed while this one still
    # covered the plan's site), and the one it went on to when this incident resumed.
    passed_from = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    passed_to = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The unit of work of the current phase (hold, then resume).
    state = models.CharField(
        max_length=8, choices=StepState.choices, default=StepState.PENDING, db_index=True
    )
    # Lower goes first: running plans (submitting now), then waiting ones by start time.
    priority = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=128, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The ESA calls made for this plan, oldest first: {"action", "request_id", "code", "at"}.
    calls = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=ESA_CODE_LENGTH, blank=True)
    error_message = models.TextField(blank=True)
    request_id = models.CharField("ESA RequestId", max_length=ESA_REQUEST_ID_LENGTH, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The incident's change version that last changed this row (services/changes.py).
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = STEPS_IN_ORDER
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "plan_esa_id"], name="one_held_plan_per_incident_and_plan"
            )
        ]
        indexes = [
            # The drainers' next pending step, in CLAIM_ORDER, without a sort.
            models.Index(fields=["incident", "state", *CLAIM_ORDER], name="held_plan_claim_order"),
            # A poll's "rows changed since version v" of one incident.
            models.Index(fields=["incident", "version"], name="held_plan_incident_version"),
            # Whether an incident holds a plan: every page that shows plans asks it of each.
            models.Index(fields=["plan_esa_id"], name="held_plan_plan_esa_id"),
            # What incidents did to a job's plans: its page lists the steps.
            models.Index(fields=["job_esa_id", "updated_at"], name="held_plan_job_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.label} in incident #{self.incident_id}"

    @property
    def is_held(self) -> bool:
        return self.hold_outcome in HELD_OUTCOMES
