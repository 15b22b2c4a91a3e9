"""Creating, changing, rotating and disabling receivers, and their rules.

A receiver's token (Alertmanager, Grafana) or signing secret (PagerDuty, Standard Webhooks, and
Grafana's optional HMAC) exists in clear only in `Credential`, handed to the page that shows it once.
Tokens are kept as SHA-256; secrets as they are, since checking a signature needs them. A rotation
keeps the previous one accepted for `ROTATION_GRACE`, so the sender can be changed without a gap.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from prefetch_ui.prefetch.models import Site

from ..models import OnResolved, Receiver, ReceiverKind, ReceiverRule, ScopeKind
from ..verification import standard_secret_valid, token_hash

logger = logging.getLogger(__name__)

ROTATION_GRACE = timedelta(hours=24)
RESUME_CAP_MAX = 1_000_000
QUIET_MINUTES_MAX = 24 * 60


class ReceiverRefused(ValueError):
    """A receiver or rule that cannot be made as asked; `field` names the form field at fault."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Credential:
    """A receiver and its new token or secret, in clear: the only time it can be read."""

    receiver: Receiver
    token: str = ""
    secret: str = ""

    def __repr__(self) -> str:  # never the secret, even in a traceback's locals
        return f"Credential(receiver={self.receiver.pk}, token=<hidden>, secret=<hidden>)"


def _new_token() -> str:
    return f"pfa_{secrets.token_urlsafe(32)}"


def _new_standard_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _secret_for(kind: str, given: str) -> str:
    """The signing secret a receiver of `kind` keeps: the one given (PagerDuty makes its own), or new."""
    given = given.strip()
    if kind == ReceiverKind.PAGERDUTY:
        if not given:
            raise ReceiverRefused(
                "Paste the signing secret PagerDuty showed when you created the webhook subscription.",
                field="secret",
            )
        return given
    if kind == ReceiverKind.STANDARD:
        if given and not standard_secret_valid(given):
            raise ReceiverRefused("A Standard Webhooks secret is whsec_ followed by base64.", field="secret")
        return given or _new_standard_secret()
    return given or secrets.token_urlsafe(32)  # Grafana's HMAC secret


def _settings_check(*, name: str, on_resolved: str, resume_cap: int | None, quiet_minutes: int) -> None:
    if not name.strip():
        raise ReceiverRefused("Give the receiver a name.", field="name")
    if on_resolved not in OnResolved.values:
        raise ReceiverRefused("Choose what a resolved alert does.", field="on_resolved")
    if resume_cap is not None and not 1 <= resume_cap <= RESUME_CAP_MAX:
        raise ReceiverRefused(f"A cap is 1 to {RESUME_CAP_MAX:,} URLs a minute.", field="resume_cap")
    if not 0 <= quiet_minutes <= QUIET_MINUTES_MAX:
        raise ReceiverRefused(f"A quiet period is 0 to {QUIET_MINUTES_MAX} minutes.", field="quiet_minutes")


def receiver_create(
    *,
    user: AbstractBaseUser,
    name: str,
    kind: str,
    on_resolved: str = OnResolved.NOTHING,
    resume_cap: int | None = None,
    quiet_minutes: int = 0,
    dry_run: bool = False,
    secret: str = "",
    grafana_hmac: bool = False,
) -> Credential:
    """A new receiver with a new token (Alertmanager, Grafana) or its signing secret; no rules yet."""
    _settings_check(name=name, on_resolved=on_resolved, resume_cap=resume_cap, quiet_minutes=quiet_minutes)
    if kind not in ReceiverKind.values:
        raise ReceiverRefused("Choose which tool sends the alerts.", field="kind")
    if Receiver.objects.filter(name=name.strip()).exists():
        raise ReceiverRefused("A receiver has this name already.", field="name")
    token = _new_token() if kind in (ReceiverKind.ALERTMANAGER, ReceiverKind.GRAFANA) else ""
    signing = ""
    if kind in (ReceiverKind.PAGERDUTY, ReceiverKind.STANDARD) or (
        kind == ReceiverKind.GRAFANA and grafana_hmac
    ):
        signing = _secret_for(kind, secret)
    with transaction.atomic():
        receiver = Receiver.objects.create(
            name=name.strip(),
            slug=secrets.token_urlsafe(16),
            kind=kind,
            token_hash=token_hash(token) if token else "",
            secret=signing,
            on_resolved=on_resolved,
            resume_cap=resume_cap,
            quiet_minutes=quiet_minutes,
            dry_run=dry_run,
            created_by_id=user.pk,
        )
    logger.info("alert receiver created", extra={"receiver": receiver.pk, "kind": kind, "user": user.pk})
    # The sender makes PagerDuty's secret: it is not shown back, the operator has it already.
    shown = signing if kind != ReceiverKind.PAGERDUTY else ""
    return Credential(receiver=receiver, token=token, secret=shown)


def receiver_update(
    *,
    receiver: Receiver,
    name: str,
    on_resolved: str,
    resume_cap: int | None,
    quiet_minutes: int,
    dry_run: bool,
    enabled: bool,
) -> Receiver:
    """Change a receiver's settings (not its kind or credential: see `receiver_rotate`)."""
    _settings_check(name=name, on_resolved=on_resolved, resume_cap=resume_cap, quiet_minutes=quiet_minutes)
    if Receiver.objects.filter(name=name.strip()).exclude(pk=receiver.pk).exists():
        raise ReceiverRefused("A receiver has this name already.", field="name")
    receiver.name = name.strip()
    receiver.on_resolved = on_resolved
    receiver.resume_cap = resume_cap
    receiver.quiet_minutes = quiet_minutes
    receiver.dry_run = dry_run
    receiver.enabled = enabled
    receiver.save()
    return receiver


def receiver_rotate(*, receiver: Receiver, secret: str = "", now: datetime | None = None) -> Credential:
    """A new token or secret; the previous one is accepted until `ROTATION_GRACE` from now."""
    now = now or timezone.now()
    with transaction.atomic():
        receiver = Receiver.objects.select_for_update().get(pk=receiver.pk)
        token = ""
        if receiver.uses_token:
            token = _new_token()
            receiver.previous_token_hash, receiver.token_hash = receiver.token_hash, token_hash(token)
        signing = ""
        if receiver.secret:
            signing = _secret_for(receiver.kind, secret)
            receiver.previous_secret, receiver.secret = receiver.secret, signing
        receiver.previous_until = now + ROTATION_GRACE
        receiver.save()
    logger.info("alert receiver credential rotated", extra={"receiver": receiver.pk})
    shown = signing if receiver.kind != ReceiverKind.PAGERDUTY else ""
    return Credential(receiver=receiver, token=token, secret=shown)


def receiver_disable(*, receiver: Receiver) -> None:
    """Refuse this receiver's deliveries from now on (its holds stay until a person resumes)."""
    Receiver.objects.filter(pk=receiver.pk).update(enabled=False)


def _labels_parse(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for part in text.replace("\n", ",").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ReceiverRefused(
                f"Write labels as name=value, separated by commas ({part.strip()!r}).", field="labels"
            )
        labels[name.strip()] = value.strip().strip('"')
    return labels


def rule_add(
    *,
    receiver: Receiver,
    alert_name: str,
    labels: str,
    scope: str,
    site: Site | None = None,
    site_label: str = "",
    allowed_sites: list[Site] | None = None,
) -> ReceiverRule:
    """A rule after the receiver's others: alerts named `alert_name` with `labels` hold `scope`."""
    parsed = _labels_parse(labels)
    allowed = list(allowed_sites or [])
    if scope == ScopeKind.SITE and site is None:
        raise ReceiverRefused("Choose the site this rule holds.", field="site")
    if scope == ScopeKind.LABEL and not site_label.strip():
        raise ReceiverRefused("Name the alert label whose value is the site.", field="site_label")
    if scope == ScopeKind.LABEL and not allowed:
        raise ReceiverRefused("Choose the sites an alert's label may name.", field="allowed_sites")
    if scope not in ScopeKind.values:
        raise ReceiverRefused("Choose what the rule holds.", field="scope")
    with transaction.atomic():
        last = receiver.rules.order_by("-position").values_list("position", flat=True).first()
        rule = ReceiverRule.objects.create(
            receiver=receiver,
            position=(last or 0) + 1,
            alert_name=alert_name.strip(),
            labels=parsed,
            scope=scope,
            site=site if scope == ScopeKind.SITE else None,
            site_label=site_label.strip() if scope == ScopeKind.LABEL else "",
        )
        if scope == ScopeKind.LABEL:
            rule.allowed_sites.set(allowed)
    return rule


def rule_remove(*, receiver: Receiver, rule_id: int) -> bool:
    deleted, _ = ReceiverRule.objects.filter(receiver=receiver, pk=rule_id).delete()
    return bool(deleted)
