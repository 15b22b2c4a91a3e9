"""Alert receivers: where an alerting tool sends its alerts, what they may hold, what each delivery did.

A `Receiver` is one sender's address (/hooks/<slug>/) with its credential and rules. Every delivery,
taken or refused, is a `Delivery` row. An alert that holds is an `AlertHold`: at most one open per
fingerprint (a unique constraint), which is what makes an alert repeated every `repeat_interval`, or
delivered twice at once, open one incident and not several.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from prefetch_ui.incidents.models import Incident, IncidentHolder
from prefetch_ui.prefetch.models import Site


class ReceiverKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    GRAFANA = "grafana", "Grafana alerting"
    PAGERDUTY = "pagerduty", "PagerDuty (webhooks v3)"
    STANDARD = "standard", "Standard Webhooks"


# Kinds that authenticate with a bearer token (kept as its SHA-256); the others sign each body with
# a secret, which must be kept as it is to check the signature.
TOKEN_KINDS = (ReceiverKind.ALERTMANAGER, ReceiverKind.GRAFANA)


class OnResolved(models.TextChoices):
    NOTHING = "nothing", "Nothing: a person resumes"
    RESUME = "resume", "Resume with a ramp"


class Receiver(models.Model):
    """One sender's address and credential, the rules of what its alerts hold, and what a resolve does."""

    name = models.CharField(max_length=100, unique=True)
    # The address's last part: random, so that the address alone tells nothing about the receiver.
    slug = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=16, choices=ReceiverKind.choices)
    # Bearer-token kinds: the SHA-256 of the token; the previous one is accepted until
    # `previous_until` after a rotation.
    token_hash = models.CharField(max_length=64, blank=True)
    previous_token_hash = models.CharField(max_length=64, blank=True)
    # Signing kinds (and Grafana with HMAC): the secret as it must be to verify a signature.
    secret = models.CharField(max_length=200, blank=True)
    previous_secret = models.CharField(max_length=200, blank=True)
    previous_until = models.DateTimeField(null=True, blank=True)
    on_resolved = models.CharField(max_length=8, choices=OnResolved.choices, default=OnResolved.NOTHING)
    # The ramp of a resume: URLs a minute per site; None: each site's peak from before the hold.
    resume_cap = models.PositiveIntegerField(null=True, blank=True)
    quiet_minutes = models.PositiveIntegerField(default=0)
    dry_run = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"receiver {self.name} ({self.get_kind_display()})"

    @property
    def uses_token(self) -> bool:
        return self.kind in TOKEN_KINDS


class ScopeKind(models.TextChoices):
    SITE = "site", "One site"
    LABEL = "label", "The site an alert label names (among allowed sites)"
    EVERY = "every", "Every site"


class ReceiverRule(models.Model):
    """Which alerts hold which scope: an alert matches when its name is `alert_name` (if set) and it
    carries every label of `labels` with that value. The first matching rule (by position) decides."""

    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    alert_name = models.CharField(max_length=255, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    scope = models.CharField(max_length=8, choices=ScopeKind.choices)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # LABEL: the alert label whose value names the site (its domain or its ESA id).
    site_label = models.CharField(max_length=100, blank=True)
    allowed_sites = models.ManyToManyField(Site, blank=True, related_name="+")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"rule #{self.pk} of {self.receiver_id}"


class Delivery(models.Model):
    """One request to a receiver's address, taken or refused, and what it did (never its credential)."""

    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="deliveries")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status_code = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=40)  # "taken", or the refusal's stable code
    message = models.TextField(blank=True)  # why it was refused
    delivery_id = models.CharField(max_length=255, blank=True)
    body_size = models.PositiveIntegerField(default=0)
    dry_run = models.BooleanField(default=False)
    # What it did (or would have done, in a dry run), one line per alert.
    actions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"delivery #{self.pk} to {self.receiver_id}: {self.status_code} {self.code}"


class SeenDelivery(models.Model):
    """A delivery id a receiver took: another with the same id is a replay (refused, 409). Kept
    longer than the window in which a timestamp is accepted."""

    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="+")
    delivery_id = models.CharField(max_length=255)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["receiver", "delivery_id"], name="one_seen_delivery_per_id")
        ]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} to {self.receiver_id}"


class ResumeState(models.TextChoices):
    NONE = "", "—"
    PENDING = "pending", "Waiting for the quiet period"
    DONE = "done", "Resumed"
    SKIPPED = "skipped", "Not resumed: still held by others"
    ALREADY = "already", "Not resumed: already resumed"
    CANCELLED = "cancelled", "Cancelled: fired again"
    FAILED = "failed", "Failed"


class AlertHold(models.Model):
    """One alert (by fingerprint) holding through an incident: from its first firing to its resolve.

    At most one is open (`released_at` unset) per `key` ("alert:<receiver id>:<fingerprint>"): the
    database refuses a second, so concurrent deliveries of one alert make one hold. After the resolve,
    `resume_state` follows the resume the receiver asks for."""

    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="alert_holds")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=200)
    alert_name = models.CharField(max_length=255)
    labels = models.JSONField(default=dict, blank=True)
    link = models.CharField(max_length=1000, blank=True)
    site = models.ForeignKey(Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    holder = models.ForeignKey(
        IncidentHolder, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    fired_at = models.DateTimeField(auto_now_add=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    fire_count = models.PositiveIntegerField(default=1)
    released_at = models.DateTimeField(null=True, blank=True)
    resume_state = models.CharField(max_length=10, choices=ResumeState.choices, blank=True, default="")
    resume_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resume_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(released_at__isnull=True), name="one_open_alert_hold_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.alert_name} ({self.fingerprint}) of receiver {self.receiver_id}"
