"""The forms of the receiver pages: a receiver's settings, a rule, a rotation."""

from __future__ import annotations

from django import forms

from prefetch_ui.prefetch.models import Site

from .models import OnResolved, ReceiverKind, ScopeKind


class ReceiverSettingsForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Which tool and which alerts, e.g. “alertmanager prod”.")
    on_resolved = forms.ChoiceField(label="When the alert resolves", choices=OnResolved.choices)
    resume_cap = forms.IntegerField(
        label="Ramp cap (URLs a minute per site)",
        required=False,
        min_value=1,
        help_text="Empty: each site's busiest minute before the hold.",
    )
    quiet_minutes = forms.IntegerField(
        label="Quiet period (minutes)",
        min_value=0,
        initial=0,
        help_text="How long after the resolve to wait; a firing again meanwhile cancels the resume.",
    )
    dry_run = forms.BooleanField(label="Dry run: record what it would do, hold nothing", required=False)


class ReceiverForm(ReceiverSettingsForm):
    kind = forms.ChoiceField(label="Sender", choices=ReceiverKind.choices)
    secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="PagerDuty: the secret it showed for the webhook subscription. "
        "Standard Webhooks: empty to have one made. Others: leave empty.",
    )
    grafana_hmac = forms.BooleanField(label="Grafana: also check its HMAC signature", required=False)

    field_order = [
        "name",
        "kind",
        "secret",
        "grafana_hmac",
        "on_resolved",
        "resume_cap",
        "quiet_minutes",
        "dry_run",
    ]


class ReceiverEditForm(ReceiverSettingsForm):
    enabled = forms.BooleanField(label="Enabled: take deliveries", required=False)


class RuleForm(forms.Form):
    alert_name = forms.CharField(
        label="Alert name", max_length=255, required=False, help_text="Empty: any alert name."
    )
    labels = forms.CharField(
        label="Labels",
        max_length=1000,
        required=False,
        help_text="name=value, comma separated; empty: any labels.",
    )
    scope = forms.ChoiceField(label="Holds", choices=ScopeKind.choices)
    site = forms.ModelChoiceField(label="Site", queryset=Site.objects.all(), required=False)
    site_label = forms.CharField(
        label="Label naming the site", max_length=100, required=False, help_text="e.g. site or domain"
    )
    allowed_sites = forms.ModelMultipleChoiceField(
        label="Sites the label may name",
        queryset=Site.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class RotateForm(forms.Form):
    secret = forms.CharField(
        label="New signing secret",
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="PagerDuty: the new secret it shows. Others: leave empty to have one made.",
    )
