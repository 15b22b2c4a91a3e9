"""Channels and their subscriptions, as operators set them on the pages; and a job's deadline."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from prefetch_ui.prefetch.models import Job, Site

from ..models import Channel, ChannelKind, JobDeadline


def webhook_secret_new() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@transaction.atomic
def channel_create(
    *,
    user: User | None,
    name: str,
    kind: str,
    url: str = "",
    recipients: str = "",
    secret: str = "",
    events: list[str],
    sites: list[Site],
    enabled: bool = True,
) -> tuple[Channel, str]:
    """Make a channel. A webhook's signing secret is made here, unless given: returned once, to be
    shown that once (the receiver needs it); "" for the other kinds."""
    made = ""
    if kind == ChannelKind.WEBHOOK and not secret:
        secret = made = webhook_secret_new()
    channel = Channel.objects.create(
        name=name,
        kind=kind,
        url=url,
        recipients=recipients,
        secret=secret,
        events=list(events),
        enabled=enabled,
        created_by=user,
    )
    channel.sites.set(sites)
    return channel, made


@transaction.atomic
def channel_update(*, channel: Channel, changes: dict[str, Any], sites: list[Site] | None) -> Channel:
    """Change a channel's name, address, recipients, subscription or state. An empty `url` or
    `secret` keeps the one it has: the page never shows them, so it cannot send them back."""
    for field in ("name", "recipients", "events", "enabled"):
        if field in changes:
            setattr(channel, field, changes[field])
    for field in ("url", "secret"):
        if changes.get(field):
            setattr(channel, field, changes[field])
    channel.save()
    if sites is not None:
        channel.sites.set(sites)
    return channel


@transaction.atomic
def channel_secret_rotate(*, channel: Channel, now: datetime | None = None) -> str:
    """A new signing secret for a webhook channel; the old one goes on signing too (a second
    signature) for PREFETCH_NOTIFY_SECRET_GRACE_HOURS. Returns the new secret, to show once."""
    now = now or timezone.now()
    new = webhook_secret_new()
    Channel.objects.filter(pk=channel.pk).update(
        previous_secret=channel.secret,
        previous_secret_until=now + timedelta(hours=settings.PREFETCH_NOTIFY_SECRET_GRACE_HOURS),
        secret=new,
    )
    channel.refresh_from_db()
    return new


def channel_delete(*, channel: Channel) -> None:
    """Remove a channel and its deliveries (their events stay)."""
    channel.delete()


def job_deadline_set(*, job: Job, deadline: datetime | None, user: User | None) -> JobDeadline | None:
    """Set (or clear, with None) when the job must be done by."""
    if deadline is None:
        JobDeadline.objects.filter(job=job).delete()
        return None
    row, _ = JobDeadline.objects.update_or_create(
        job=job,
        defaults={
            "deadline": deadline,
            "set_by": user,
        },
    )
    return row
