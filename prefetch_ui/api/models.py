"""API tokens: a user's keys to the HTTP API, each with its scopes and expiry.

A token as sent is `pfu_<key_id>_<secret>`: `key_id` finds the row (unique, not secret), and only
the SHA-256 of the whole token is kept, compared in constant time. The secret is shown once, when
the token is created, and can never be read again: not on a page, in a log or in an export.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models


class Scope(models.TextChoices):
    """What a token may do. A token never holds more than its owner may do (`services`)."""

    READ = "read", "read: sites, jobs, plans, operations"
    OPERATE = "operate", "operate: stop, start, edit, delete, create"
    INCIDENTS = "incidents", "incidents: hold and resume prefetch"


class ApiToken(models.Model):
    """One API token of one user."""

    name = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_id = models.CharField("key id", max_length=16, unique=True)
    secret_hash = models.CharField("SHA-256 of the token", max_length=64)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The token of the form that made it (24 hex characters): the same form sent again (a reload of
    # the page that showed the secret) makes no second token.
    form_token = models.CharField(max_length=24, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "form_token"],
                condition=~models.Q(form_token=""),
                name="api_token_one_per_form",
            ),
        ]

    def __str__(self) -> str:
        return f"token {self.name} of {self.user}"

    def is_usable(self, *, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and now < self.expires_at


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` a token sent with a write, and the first answer to it (`idempotency`).

    `status_code` is null while the first request is being handled. The unique constraint is what
    makes two requests with one key at once act once: the second insert fails."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    # SHA-256 of the request's method, path, query and body: the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.TextField(blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="api_idempotency_key_per_token")]

    def __str__(self) -> str:
        return f"key {self.key[:40]} of token {self.token_id}"


class ServiceRights(models.TextChoices):
    """What a service account may do, as a person's rights: what its tokens may then be given."""

    VIEWER = "viewer", "viewer: read"
    OPERATOR = "operator", "operator: read, operate and incidents"
    INCIDENTS = "incidents", "incidents: read, and hold and resume prefetch"


class ServiceAccount(models.Model):
    """A user for a machine (Alertmanager, a deploy script): it cannot log in with a password and
    acts only through its tokens, which an admin makes. Disabling it makes its user inactive, and a
    token of an inactive user opens nothing (`services.token_authenticate`)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account"
    )
    rights = models.CharField(max_length=16, choices=ServiceRights.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__username"]
        permissions = [("hold_incidents", "Can hold and resume prefetch through the API")]

    def __str__(self) -> str:
        return f"service account {self.user}"
