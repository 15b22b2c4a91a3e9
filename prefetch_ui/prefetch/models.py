"""The local mirror of ESA (sites, jobs, plans) and the operations operators ask for.

ESA is the source of truth for sites, jobs and plans: the sync writes these rows, nothing else
does, except a task that has just changed something in ESA and records ESA's answer. Operations are
ours: each is both the audit trail and the outbox of an action that a Celery worker carries out.

Change versions (`version` and the `*_version` fields) let a polled page ask "has anything I show
changed since version v?" in one query: each site counts its changes, and every write that
changes what a page shows stamps the site's next count on the rows it changed (see
`services.changes`). So a sync writes only the rows ESA changed, and a row's `synced_at` is when
ESA's values for it were last written, not when they were last read.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .plan_changes import PlanUpdateChanges, plan_update_changes

# Unknown times (ESA left one out) sort last, on every database: by default SQLite puts NULL first in
# ascending order and PostgreSQL last, and the other way round in descending order.
JOBS_NEWEST_FIRST = (F("esa_created_at").desc(nulls_last=True), F("id").desc())
PLANS_IN_TIME_ORDER = (F("start_time").asc(nulls_last=True), F("id").asc())


class Site(models.Model):
    """An ESA site; `name` is its domain."""

    esa_id = models.BigIntegerField("ESA site id", unique=True)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=32, blank=True)
    plan_name = models.CharField(max_length=64, blank=True)
    coverage = models.CharField(max_length=32, blank=True)
    access_type = models.CharField(max_length=16, blank=True)
    esa_created_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField()
    # Why the last sync could not read this site's jobs (ESA's code and message), until one can.
    sync_error = models.TextField(blank=True)
    sync_error_at = models.DateTimeField(null=True, blank=True)
    # When the sync last read the site's jobs from ESA without an error: how old the mirror of it
    # is (`synced_at` is when ESA's values were last *written*, and the sync writes only changes).
    # Written every cycle and stamped with no change version: a read that found nothing new must
    # wake no poll. None until the first read.
    jobs_read_at = models.DateTimeField(null=True, blank=True)
    # The site's change counter: the last version taken by a write to the site, its jobs, their
    # plans or operations. Jobs and plans carry versions drawn from it, so they compare with it.
    version = models.PositiveBigIntegerField(default=0)
    # The version at which the site page's list changed shape: a job added or removed, a job
    # creation asked for or ended. Until then a poll of the page can swap single rows.
    layout_version = models.PositiveBigIntegerField(default=0)
    # The basis (see `services.mirror_rows`) of the last complete listing of the site's jobs written here:
    # every job row is ESA's as of then at least, unless its own `esa_state_at` is newer.
    jobs_esa_state_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    """A scheduled prefetch job: a list of URLs for one site, and ESA's progress through it."""

    esa_id = models.CharField("ESA job id", max_length=24, unique=True)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="jobs")
    name = models.CharField(max_length=255)
    insert_way = models.CharField(max_length=16, blank=True)
    task_type = models.CharField(max_length=16, blank=True)
    url_count = models.PositiveIntegerField(default=0)
    url_submitted = models.PositiveIntegerField(default=0)
    task_submitted = models.PositiveIntegerField(default=0)
    domains = models.TextField(blank=True)
    error_info = models.TextField(blank=True)
    file_id = models.CharField(max_length=64, blank=True)
    failed_file_oss = models.TextField(blank=True)
    ali_uid = models.CharField(max_length=32, blank=True)
    esa_created_at = models.DateTimeField(null=True, blank=True, db_index=True)
    execution_count = models.PositiveIntegerField(null=True, blank=True)
    synced_at = models.DateTimeField()
    plans_synced_at = models.DateTimeField(null=True, blank=True)
    # What ESA state the row's values reflect (the basis of the write that set them, see
    # `services.mirror_rows`); a write based on an older state leaves the row alone. Null: unknown (oldest).
    esa_state_at = models.DateTimeField(null=True, blank=True)
    # The basis of the last listing of all the job's plans written here: every plan row of the job
    # is ESA's as of then at least (or newer, by its own `esa_state_at`), and a plan not in the
    # mirror was not in ESA then.
    plans_esa_state_at = models.DateTimeField(null=True, blank=True)
    # The site's version at the last change of anything the job's page or its row on the site page
    # shows: the job, a plan, an operation on either, a hold of its site.
    version = models.PositiveBigIntegerField(default=0)
    # ... at the last change of the shape of the job page's list of plans (a plan added, deleted or
    # moved in the order) or of every row at once (a hold of its site starts or ends).
    layout_version = models.PositiveBigIntegerField(default=0)
    # ... at the last change of a plan's status: a list filtered by status may then gain or lose rows.
    statuses_version = models.PositiveBigIntegerField(default=0)
    # ... at the last change of the job's own fields (its progress, ErrorInfo): its facts, and the
    # one rows that show one of them (a failed plan's ErrorInfo, which the poll tracks apart).
    row_version = models.PositiveBigIntegerField(default=0)
    # ... at the last change of an operation on the job or one of its plans.
    operations_version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = JOBS_NEWEST_FIRST
        # prefetch_ui.web.permissions.OPERATE_PERMISSION; the Operators group holds it (apps.py).
        permissions = [
            (
                "operate",
                "Can start, stop, edit, reset and delete prefetch jobs and plans, and hold prefetch",
            )
        ]
        indexes = [
            models.Index(fields=["site", "-esa_created_at"]),
            models.Index(fields=["site", "name"]),
            # A site's jobs changed since a version, without reading them all.
            models.Index(fields=["site", "version"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def progress_percent(self) -> int:
        if not self.url_count:
            return 0
        return min(100, round(100 * self.url_submitted / self.url_count))


class PlanStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"


UNFINISHED_PLAN_STATUSES = (PlanStatus.WAITING, PlanStatus.RUNNING)


class Plan(models.Model):
    """An execution plan: `slice_len` URLs every `interval` seconds between start and end."""

    esa_id = models.CharField("ESA plan id", max_length=24, unique=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="plans")
    start_time = models.DateTimeField(null=True)
    end_time = models.DateTimeField(null=True)
    interval = models.PositiveIntegerField("interval (s)")
    slice_len = models.PositiveIntegerField("batch size")
    status = models.CharField(max_length=16, choices=PlanStatus.choices, db_index=True)
    ali_uid = models.CharField(max_length=32, blank=True)
    synced_at = models.DateTimeField()
    # What ESA state the row's values reflect, as `Job.esa_state_at`.
    esa_state_at = models.DateTimeField(null=True, blank=True)
    # The site's version at the last change of what the plan's row shows (the plan, its operation).
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = PLANS_IN_TIME_ORDER
        indexes = [
            # A page of a job's plans, in order, without sorting them all.
            models.Index(fields=["job", "start_time", "id"]),
            # A job's plans changed since a version, without reading them all.
            models.Index(fields=["job", "version"]),
            # Whether a job has a plan of some status (failed, unfinished): the overview asks it
            # of every job of a site, and a job's page filters its plans by status.
            models.Index(fields=["job", "status"]),
        ]

    def __str__(self) -> str:
        return f"plan {self.esa_id}"

    @property
    def short_id(self) -> str:
        """The last 8 characters of ESA's id: enough to tell a job's plans apart on a page.

        Not the first 8: ESA's ids begin with their creation second, which a batch shares.
        """
        return self.esa_id[-8:]

    @property
    def is_unfinished(self) -> bool:
        return self.status in UNFINISHED_PLAN_STATUSES


class OperationKind(models.TextChoices):
    PLAN_START = "plan_start", "Start plan"
    PLAN_STOP = "plan_stop", "Stop plan"
    PLAN_UPDATE = "plan_update", "Update plan"
    PLAN_DELETE = "plan_delete", "Delete plan"
    JOB_RESET = "job_reset", "Reset job"
    JOB_DELETE = "job_delete", "Delete job"
    JOB_CREATE = "job_create", "Create job"
    PLANS_CREATE = "plans_create", "Create plans"


class OperationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_OPERATION_STATUSES = (OperationStatus.PENDING, OperationStatus.RUNNING)

# The columns that keep ESA's error code and RequestId (here and on an incident's steps). ESA's are far
# shorter, but one that is not must be cut before it is written: PostgreSQL refuses what SQLite keeps.
ESA_CODE_LENGTH = 128
ESA_REQUEST_ID_LENGTH = 64


class Operation(models.Model):
    """An action an operator asked for: the audit record and the outbox of the ESA call.

    The row is the truth about the work (NetBox style): a task moves it `pending → running →
    succeeded | failed` with conditional updates, so a redelivered task does nothing twice.
    """

    kind = models.CharField(max_length=32, choices=OperationKind.choices)
    status = models.CharField(
        max_length=16, choices=OperationStatus.choices, default=OperationStatus.PENDING, db_index=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="prefetch_operations"
    )
    # Who asked, when it was not the user on a page: "token NAME of USER" for an API call (the audit
    # log shows this instead of the username). Empty: the user, on a page.
    requested_via = models.CharField(max_length=255, blank=True)
    # The target: its ESA id stays when the row it names is deleted (a delete is the point). A
    # create has no ESA id yet: its key is the token of the form that asked, so a second submit
    # of the same form joins the first instead of creating twice.
    target_esa_id = models.CharField(max_length=24)
    target_label = models.CharField(max_length=255, blank=True)
    site = models.ForeignKey(
        Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="operations"
    )
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="operations")
    plan = models.ForeignKey(
        Plan, on_delete=models.SET_NULL, null=True, blank=True, related_name="operations"
    )
    params = models.JSONField(default=dict, blank=True)
    # What ESA answered, where more than a status: the id of a created job; per plan row of a batch,
    # the plan created or ESA's reason for refusing it.
    result = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    request_id = models.CharField("ESA RequestId", max_length=ESA_REQUEST_ID_LENGTH, blank=True)
    error_code = models.CharField(max_length=ESA_CODE_LENGTH, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One unfinished operation of a kind per target: a second click joins the first.
            models.UniqueConstraint(
                fields=["kind", "target_esa_id"],
                condition=Q(status__in=["pending", "running"]),
                name="one_active_operation_per_kind_and_target",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.target_label or self.target_esa_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_OPERATION_STATUSES

    @property
    def requested_by_label(self) -> str:
        """Who asked, as pages and the audit log say it: the API token, else the username."""
        return self.requested_via or (
            self.requested_by.get_username() if self.requested_by is not None else ""
        )

    @property
    def plan_changes(self) -> PlanUpdateChanges | None:
        """What an update of a plan changed; None for another kind, or an update that did not record it."""
        if self.kind != OperationKind.PLAN_UPDATE:
            return None
        return plan_update_changes(params=self.params, result=self.result)

    @property
    def progress_label(self) -> str:
        """What the page says while the operation is under way: "Stopping…"."""
        return _PROGRESS_LABELS[self.kind]


_PROGRESS_LABELS: dict[str, str] = {
    OperationKind.PLAN_START: "Starting…",
    OperationKind.PLAN_STOP: "Stopping…",
    OperationKind.PLAN_UPDATE: "Updating…",
    OperationKind.PLAN_DELETE: "Deleting…",
    OperationKind.JOB_RESET: "Resetting…",
    OperationKind.JOB_DELETE: "Deleting…",
    OperationKind.JOB_CREATE: "Creating…",
    OperationKind.PLANS_CREATE: "Creating plans…",
}


class SiteLimits(models.Model):
    """What bounds prefetch on a site, as the sync last read it from ESA, and the site's prefetch
    quota used today as the sync counted it (docs/limits.md).

    ESA answers the quota (ListInstanceQuotas' `preload`: URLs a day) but not how much of it is
    used, so the sync counts: each read of the site's jobs adds what their `TaskSubmitted` grew
    by since the last (the URLs handed to the prefetch system, which is what the quota is charged
    with), into the quota day of the read. `counted_since` says from when the count is complete:
    the quota day's start, or a later moment when counting began (a first read, or after a gap).
    """

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="limits")
    # ListInstanceQuotas: the site's plan instance, its status (online, offline, disable) and its
    # prefetch quota in URLs a day (None: not read yet, or ESA did not answer one).
    instance_id = models.CharField(max_length=64, blank=True)
    instance_status = models.CharField(max_length=16, blank=True)
    preload_quota = models.BigIntegerField(null=True, blank=True)
    # GetPurgeQuota for purges by URL (`file`): daily and 30-day quota and use (0: not configured).
    purge_quota = models.BigIntegerField(null=True, blank=True)
    purge_used = models.BigIntegerField(null=True, blank=True)
    purge_quota_30day = models.BigIntegerField(null=True, blank=True)
    purge_used_30day = models.BigIntegerField(null=True, blank=True)
    # GetSitePause: a paused site's plans do not run (None: not read yet).
    paused = models.BooleanField(null=True, blank=True)
    # When the quotas and pause were last read without an error; the last error (code, message,
    # RequestId) until a read succeeds.
    read_at = models.DateTimeField(null=True, blank=True)
    read_error = models.TextField(blank=True)
    read_error_at = models.DateTimeField(null=True, blank=True)
    # The count of today's use: the quota day it is for (its date in the quota's time zone), URLs
    # charged, and from when it is complete (None: counting has not begun).
    quota_day = models.DateField(null=True, blank=True)
    preload_used = models.BigIntegerField(default=0)
    counted_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "site limits"

    def __str__(self) -> str:
        return f"limits of {self.site_id}"
