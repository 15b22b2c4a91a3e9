"""The forms of the notification pages: a channel and its subscription; a job's deadline."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import validate_email

from prefetch_ui.prefetch.models import Site

from .models import SUBSCRIBABLE_KINDS, ChannelKind, EventKind

HTTP_KINDS = (ChannelKind.WEBHOOK, ChannelKind.SLACK, ChannelKind.DINGTALK, ChannelKind.LARK)


class ChannelForm(forms.Form):
    """A new channel (`editing` False) or the changes to one: its address and secret are never
    shown back, so left empty they stay as they are."""

    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=ChannelKind.choices)
    url = forms.CharField(
        label="Address (URL)",
        required=False,
        max_length=2000,
        help_text="The webhook's or robot's URL. Never shown again: a robot's URL is a credential.",
        widget=forms.URLInput(attrs={"autocomplete": "off"}),
    )
    recipients = forms.CharField(
        label="E-mail addresses",
        required=False,
        max_length=2000,
        help_text="E-mail only: one address a line.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=255,
        help_text=(
            "DingTalk: the SEC… secret of the robot's signing setting. Lark/Feishu: the signature "
            "verification secret. Webhook: leave empty and one is made for you (whsec_…)."
        ),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    events = forms.MultipleChoiceField(
        label="Events",
        choices=[(kind.value, kind.label) for kind in SUBSCRIBABLE_KINDS],
        widget=forms.CheckboxSelectMultiple,
    )
    sites = forms.ModelMultipleChoiceField(
        queryset=Site.objects.all(),
        required=False,
        help_text="None chosen: every site.",
        widget=forms.CheckboxSelectMultiple,
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            self.fields["kind"].disabled = True

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"].strip()
        if url and not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("The address must start with https:// (or http://).")
        return url

    def clean_recipients(self) -> str:
        lines = [line.strip() for line in self.cleaned_data["recipients"].replace(",", "\n").splitlines()]
        addresses = [line for line in lines if line]
        for address in addresses:
            try:
                validate_email(address)
            except forms.ValidationError:
                raise forms.ValidationError(f"“{address[:100]}” is not an e-mail address.") from None
        return "\n".join(addresses)

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        if kind in HTTP_KINDS and not cleaned.get("url") and not self.editing:
            self.add_error("url", "This kind of channel needs its URL.")
        if kind == ChannelKind.EMAIL and not cleaned.get("recipients"):
            self.add_error("recipients", "Give at least one address.")
        if kind == ChannelKind.EMAIL and not self.editing and not getattr(settings, "MAILERS", None):
            # Without a mail server every delivery would fail: say so now, not after a day of retries.
            self.add_error(
                "kind", "E-mail is not set up on this server (DJANGO_EMAIL_HOST): choose another kind."
            )
        secret = cleaned.get("secret", "")
        if kind == ChannelKind.WEBHOOK and secret:
            try:
                key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if not secret.startswith("whsec_") or len(key) < 24:
                self.add_error("secret", "A webhook secret is whsec_ and at least 24 bytes in base64.")
        return cleaned


class JobDeadlineForm(forms.Form):
    """When the job must be done by, in the display zone; empty: no deadline."""

    deadline = forms.DateTimeField(
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


__all__ = ["ChannelForm", "EventKind", "JobDeadlineForm"]
