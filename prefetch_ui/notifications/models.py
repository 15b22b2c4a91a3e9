"""Notifications: what happened (an `Event`, once per unique key), where people want to hear of it
(a `Channel` and what it subscribes to), and each delivery of one to the other (`Delivery`, the
outbox a worker sends from).

Events are found by a periodic scan of the database (`services/scan.py`), not by signals: the
subsystems that cause them write with conditional and bulk updates, which send no signal, and a
scan with a unique key per event is the same whatever order it sees things in. This app imports
`prefetch` and `incidents`; they never import it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from prefetch_ui.prefetch.models import Job, Site


class EventKind(models.TextChoices):
    HOLD_OPENED = "hold.opened", "A hold opened"
    HOLD_COMPLETED = "hold.completed", "A hold completed"
    HOLD_FAILED_STEPS = "hold.failed_steps", "A hold or resume with failed steps"
    HOLD_RESUMED = "hold.resumed", "A hold resumed"
    PLAN_FAILED = "plan.failed", "A plan failed"
    JOB_UNSCHEDULED = "job.unscheduled", "A job that will not finish (URLs with no plan)"
    JOB_LATE = "job.late", "A job that will finish after its deadline"
    CREATE_REFUSED = "create.refused", "A create refused by ESA"
    SYNC_STALE = "sync.stale", "ESA unreachable or the sync stale"
    QUEUE_NO_WORKER = "queue.no_worker", "A worker queue with no worker"
    QUOTA_RUNS_OUT = "quota.runs_out", "A site's prefetch quota runs out today at this schedule"
    QUOTA_USED_UP = "quota.used_up", "A site's prefetch quota used up today"
    SITE_PAUSED = "site.paused", "A site paused in ESA"
    SITE_RESUMED = "site.resumed", "A paused site no longer paused"
    TEST = "test", "A test message"


# What a channel can subscribe to: every kind but the test, which goes only where it is sent.
SUBSCRIBABLE_KINDS = [kind for kind in EventKind if kind != EventKind.TEST]


class ChannelKind(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (Standard Webhooks)"
    SLACK = "slack", "Slack incoming webhook"
    DINGTALK = "dingtalk", "DingTalk group robot"
    LARK = "lark", "Lark / Feishu group robot"
    EMAIL = "email", "E-mail"


class Channel(models.Model):
    """Where notifications go, and which of them (its subscription: `events`, `sites`).

    `url` and `secret` are what sending needs, kept as they must be used; neither is ever shown
    on a page, in a log or in the list of deliveries (the URL of a Slack, DingTalk or Lark robot is
    itself a credential). A webhook's secret can be rotated: the one it replaced keeps signing too
    (`previous_secret`) until `previous_secret_until`, so receivers can move at their own pace.
    """

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    url = models.TextField(blank=True)
    recipients = models.TextField(blank=True)  # e-mail: addresses, one a line
    secret = models.CharField(max_length=255, blank=True)
    previous_secret = models.CharField(max_length=255, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # The subscription: the event kinds (EventKind values) and the sites (none: every site; events
    # about no site, such as a stale sync, go to every channel that subscribes to their kind).
    events = models.JSONField(default=list)
    sites = models.ManyToManyField(Site, blank=True, related_name="+")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def recipient_list(self) -> list[str]:
        return [line.strip() for line in self.recipients.replace(",", "\n").splitlines() if line.strip()]


class Event(models.Model):
    """Something that happened, recorded once: `key` names it uniquely ("incident:12:opened"), so a
    scan that sees it again, in whatever order, records nothing more."""

    key = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    site = models.ForeignKey(Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    title = models.CharField(max_length=255)
    # The facts, as every channel's message is made from them (the webhook's `data`).
    data = models.JSONField(default=dict)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # given up: permanent refusal, or out of attempts


UNSETTLED_DELIVERY_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class Delivery(models.Model):
    """One event to one channel: the outbox row, written in the transaction that records the event.

    A channel's deliveries go out in order (by id): the oldest unsettled one is sent first, and a
    later one waits until it is delivered or given up. Its failures wait `next_attempt_at`, which
    grows exponentially. `answer_code` and `error` say what the receiver answered, never a secret.
    """

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    # The envelope sent (a webhook's body; the other channels' messages are made from it).
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    answer_code = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "event"], name="one_delivery_per_channel_event")
        ]
        indexes = [models.Index(fields=["channel", "status", "id"], name="delivery_channel_queue")]

    def __str__(self) -> str:
        return f"delivery #{self.pk} of event #{self.event_id} to channel #{self.channel_id} ({self.status})"

    @property
    def message_id(self) -> str:
        """The id a receiver sees (Standard Webhooks' `webhook-id`): the same on every attempt."""
        return f"msg_{self.event_id}_{self.channel_id}"


class Condition(models.Model):
    """A state that is an event only once it lasted (a queue with no worker): since when it holds.
    Deleted when it ends, so the next time it holds is another event."""

    key = models.CharField(max_length=255, unique=True)
    since = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} since {self.since}"


class ScanCursor(models.Model):
    """Where the scan of one source stopped: what it need not read again."""

    name = models.CharField(max_length=64, unique=True)
    position = models.BigIntegerField(default=0)
    at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.position} / {self.at}"


class JobDeadline(models.Model):
    """When a job must be done by, as a user set it on the job's page: the scan tells the
    subscribers when the job's plans will finish after it."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="notification_deadline")
    deadline = models.DateTimeField()
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    set_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"deadline of job #{self.job_id}: {self.deadline}"
