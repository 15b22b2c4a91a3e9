"""The scan: what happened, found in the database (and Redis, for the sync's and workers' beats),
recorded as events with a unique key each, so that it is recorded once whatever order the scan sees
it in and however often it runs. Run by the beat every PREFETCH_NOTIFY_SCAN_PERIOD seconds.

Why a scan and not signals: incidents and the mirror change state with conditional `update()`s and
bulk writes, which send no signal; and the stale sync, the worker-less queue and a job's outlook are
not writes at all. Cursors keep each scan to what may have changed since the last one. ESA's limits
(a quota that runs out or is used up, a site paused) are scanned in `limits_scan`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone

from prefetch_ui.core.metrics import SYNC_LAST_SUCCESS_KEY
from prefetch_ui.core.queues import queue_consumers
from prefetch_ui.core.workers import redis_connection
from prefetch_ui.incidents.models import HeldPlan, Incident, IncidentStatus, StepState, holding_now
from prefetch_ui.prefetch.models import (
    UNFINISHED_PLAN_STATUSES,
    Job,
    Operation,
    OperationKind,
    OperationStatus,
    Plan,
    PlanStatus,
    Site,
)
from prefetch_ui.prefetch.selectors.estimates import jobs_outlooks

from ..messages import iso_utc
from ..models import Condition, EventKind, JobDeadline, ScanCursor
from .cursors import period_due
from .limits_scan import limits_scan
from .outbox import event_record

logger = logging.getLogger(__name__)

# Rows written by a transaction that committed after the last scan began may carry an earlier time:
# each time-cursored source is read again from this long before the last scan (keys dedupe).
OVERLAP = timedelta(minutes=5)


def _since(name: str, now: datetime) -> datetime:
    """Where the time-cursored source `name` is read from, and move its cursor to `now`. The first
    scan starts from now: what happened before notifications were set up is not news."""
    cursor, created = ScanCursor.objects.get_or_create(name=name, defaults={"at": now})
    since = (cursor.at or now) - OVERLAP
    if not created:
        ScanCursor.objects.filter(pk=cursor.pk).update(at=now)
    return since


def _incident_data(incident: Incident) -> dict[str, object]:
    return {
        "incident_id": incident.pk,
        "scope": incident.scope_label,
        "site": incident.site.name if incident.site else None,
        "reason": incident.reason,
        "by": incident.held_by_label,
        "status": incident.status,
        "path": reverse("incident-detail", args=[incident.pk]),
    }


def _incidents_scan() -> int:
    """Holds opened, completed, with failed steps, resumed. The cursor is the last incident below
    which every one is resumed and told: those are never read again."""
    cursor, _ = ScanCursor.objects.get_or_create(name="incidents")
    incidents = list(
        Incident.objects.filter(pk__gt=cursor.position)
        .select_related("site", "held_by", "resumed_by")
        .annotate(failed=Count("held_plans", filter=Q(held_plans__state=StepState.FAILED)))
        .order_by("pk")
    )
    recorded = 0
    settled_up_to = cursor.position
    prefix_settled = True
    for incident in incidents:
        data = _incident_data(incident)
        site = incident.site
        label = incident.scope_label
        events = [
            (
                f"incident:{incident.pk}:opened",
                EventKind.HOLD_OPENED,
                f"Hold of {label} opened",
                incident.held_at,
            )
        ]
        # Held now or since: a hold that the sync re-opens (held → holding) was completed all the same.
        if incident.hold_done_at is not None or incident.status in (
            IncidentStatus.HELD,
            IncidentStatus.RESUMING,
            IncidentStatus.RESUMED,
        ):
            events.append(
                (
                    f"incident:{incident.pk}:hold_completed",
                    EventKind.HOLD_COMPLETED,
                    f"Hold of {label} completed",
                    incident.hold_done_at or timezone.now(),
                )
            )
        failed = int(getattr(incident, "failed", 0))
        if failed and incident.status in (IncidentStatus.HELD, IncidentStatus.RESUMED):
            phase = incident.phase
            events.append(
                (
                    f"incident:{incident.pk}:failed_steps:{phase}",
                    EventKind.HOLD_FAILED_STEPS,
                    f"{'Hold' if phase == 'hold' else 'Resume'} of {label}: {failed} step(s) failed",
                    timezone.now(),
                )
            )
        if incident.status == IncidentStatus.RESUMED:
            events.append(
                (
                    f"incident:{incident.pk}:resumed",
                    EventKind.HOLD_RESUMED,
                    f"Hold of {label} resumed",
                    incident.resumed_at or timezone.now(),
                )
            )
        for key, kind, title, at in events:
            extra: dict[str, object] = {"failed_steps": failed} if kind == EventKind.HOLD_FAILED_STEPS else {}
            if kind == EventKind.HOLD_RESUMED:
                extra = {"by": incident.resumed_by_label}
            recorded += (
                event_record(
                    key=key, kind=kind, title=title, data={**data, **extra}, site=site, occurred_at=at
                )
                is not None
            )
        prefix_settled = prefix_settled and incident.status == IncidentStatus.RESUMED
        if prefix_settled:
            settled_up_to = incident.pk
    if settled_up_to != cursor.position:
        ScanCursor.objects.filter(pk=cursor.pk).update(position=settled_up_to)
    return recorded


def _plans_scan(now: datetime) -> int:
    since = _since("plans", now)
    plans = Plan.objects.filter(status=PlanStatus.FAILED, synced_at__gte=since).select_related("job__site")
    recorded = 0
    for plan in plans:
        job = plan.job
        recorded += (
            event_record(
                key=f"plan:{plan.esa_id}:failed",
                kind=EventKind.PLAN_FAILED,
                title=f"Plan {plan.short_id} of job {job.name} failed",
                data={
                    "site": job.site.name,
                    "job": job.name,
                    "job_id": job.esa_id,
                    "plan": plan.esa_id,
                    "error_message": job.error_info[:500],
                    "path": reverse("job-detail", args=[job.esa_id]),
                },
                site=job.site,
                occurred_at=plan.synced_at,
            )
            is not None
        )
    return recorded


def _creates_scan(now: datetime) -> int:
    since = _since("creates", now)
    refused = Operation.objects.filter(
        kind__in=(OperationKind.JOB_CREATE, OperationKind.PLANS_CREATE),
        status=OperationStatus.FAILED,
        finished_at__gte=since,
    ).select_related("site", "requested_by", "job")
    recorded = 0
    for operation in refused:
        what = "job" if operation.kind == OperationKind.JOB_CREATE else "plans"
        path = reverse("job-detail", args=[operation.job.esa_id]) if operation.job else None
        recorded += (
            event_record(
                key=f"operation:{operation.pk}:refused",
                kind=EventKind.CREATE_REFUSED,
                title=f"ESA refused to create {what}: {operation.target_label or operation.target_esa_id}"[
                    :255
                ],
                data={
                    "operation_id": operation.pk,
                    "site": operation.site.name if operation.site else None,
                    "job": operation.job.name if operation.job else operation.target_label,
                    "by": operation.requested_by_label,
                    "error_code": operation.error_code,
                    "error_message": operation.error_message[:500],
                    "request_id": operation.request_id,
                    "path": path,
                },
                site=operation.site,
                occurred_at=operation.finished_at,
            )
            is not None
        )
    return recorded


def _jobs_scan(now: datetime) -> int:
    """Jobs that will not finish (URLs that no plan will send) and jobs that will finish after their
    deadline, as the job page's estimate says. Jobs held by an incident are left out: their plans
    are parked on purpose. Read every PREFETCH_NOTIFY_JOBS_SCAN_PERIOD seconds, not every scan."""
    if not period_due(name="jobs", now=now, period=settings.PREFETCH_NOTIFY_JOBS_SCAN_PERIOD):
        return 0
    held_jobs = HeldPlan.objects.filter(holding_now()).values("job_esa_id")
    jobs = list(
        Job.objects.filter(url_count__gt=F("url_submitted"))
        .filter(Q(plans__status__in=UNFINISHED_PLAN_STATUSES) | Q(notification_deadline__isnull=False))
        .exclude(esa_id__in=held_jobs)
        .select_related("site", "notification_deadline")
        .distinct()
    )
    if not jobs:
        return 0
    open_jobs = set(
        Plan.objects.filter(job__in=jobs, status__in=UNFINISHED_PLAN_STATUSES).values_list(
            "job_id", flat=True
        )
    )
    outlooks = jobs_outlooks(jobs=jobs, now=now)
    recorded = 0
    for job in jobs:
        outlook = outlooks[job.pk]
        deadline: JobDeadline | None = getattr(job, "notification_deadline", None)
        data = {
            "site": job.site.name,
            "job": job.name,
            "job_id": job.esa_id,
            "remaining_urls": outlook.remaining,
            "unscheduled_urls": outlook.unscheduled,
            "finishes_at": iso_utc(outlook.finishes_at),
            "deadline": iso_utc(deadline.deadline) if deadline else None,
            "path": reverse("job-detail", args=[job.esa_id]),
        }
        if outlook.unscheduled and (job.pk in open_jobs or deadline is not None):
            recorded += (
                event_record(
                    key=f"job:{job.esa_id}:unscheduled",
                    kind=EventKind.JOB_UNSCHEDULED,
                    title=f"Job {job.name} will not finish: {outlook.unscheduled} URL(s) have no plan",
                    data=data,
                    site=job.site,
                    occurred_at=now,
                )
                is not None
            )
        if (
            deadline is not None
            and outlook.remaining
            and (outlook.finishes_at is None or outlook.finishes_at > deadline.deadline)
        ):
            recorded += (
                event_record(
                    key=f"job:{job.esa_id}:late:{int(deadline.deadline.timestamp())}",
                    kind=EventKind.JOB_LATE,
                    title=f"Job {job.name} will finish after its deadline",
                    data=data,
                    site=job.site,
                    occurred_at=now,
                )
                is not None
            )
    return recorded


def _sync_scan(now: datetime) -> int:
    """The sync's last success is older than the threshold: ESA unreachable, or the sync stuck. One
    event per outage (named by that last success)."""
    try:
        with redis_connection() as connection:
            raw = connection.get(SYNC_LAST_SUCCESS_KEY)
    except redis.RedisError:
        return 0
    if raw is None:
        return 0
    last_success = float(raw)
    age = time.time() - last_success
    if age <= settings.PREFETCH_NOTIFY_SYNC_STALE_SECONDS:
        return 0
    failing = Site.objects.exclude(sync_error="").order_by("-sync_error_at").first()
    sync_error = failing.sync_error[:500] if failing else ""
    title = "ESA unreachable: the sync has not succeeded" if sync_error else "The sync is stale"
    return int(
        event_record(
            key=f"sync:stale:{int(last_success)}",
            kind=EventKind.SYNC_STALE,
            title=f"{title} for {int(age)} s",
            data={
                "last_success": iso_utc(datetime.fromtimestamp(last_success, tz=UTC)),
                "age_seconds": int(age),
                "threshold_seconds": settings.PREFETCH_NOTIFY_SYNC_STALE_SECONDS,
                "sync_error": sync_error,
                "path": reverse("overview"),
            },
            occurred_at=now,
        )
        is not None
    )


def _queues_scan(now: datetime) -> int:
    """A queue no live worker consumes, for longer than PREFETCH_NOTIFY_NO_WORKER_SECONDS. (The scan
    itself runs on a worker: a queue it can see unconsumed is one that some other worker skips.)"""
    recorded = 0
    for queue in settings.CELERY_TASK_QUEUES:
        name = queue.name
        key = f"queue:{name}:no_worker"
        try:
            consumed = bool(queue_consumers(name))
        except redis.RedisError:
            return recorded
        if consumed:
            Condition.objects.filter(key=key).delete()
            continue
        condition, _ = Condition.objects.get_or_create(key=key, defaults={"since": now})
        if (now - condition.since).total_seconds() < settings.PREFETCH_NOTIFY_NO_WORKER_SECONDS:
            continue
        recorded += (
            event_record(
                key=f"{key}:{int(condition.since.timestamp())}",
                kind=EventKind.QUEUE_NO_WORKER,
                title=f"No worker consumes the {name} queue",
                data={"queue": name, "since": iso_utc(condition.since)},
                occurred_at=now,
            )
            is not None
        )
    return recorded


def notifications_scan(*, now: datetime | None = None) -> int:
    """Record every event found; returns how many were new. Each source is scanned on its own: one
    that fails (its error logged) does not keep the others from being told."""
    now = now or timezone.now()
    recorded = 0
    sources: list[Callable[[], int]] = [
        _incidents_scan,
        lambda: _plans_scan(now),
        lambda: _creates_scan(now),
        lambda: _jobs_scan(now),
        lambda: limits_scan(now=now),
        lambda: _sync_scan(now),
        lambda: _queues_scan(now),
    ]
    for source in sources:
        try:
            recorded += source()
        except Exception:
            logger.exception("notifications: a scan failed; the next one tries again")
    return recorded
