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
