"""The form of the tokens page: what a new token is called, may do, and how long it lasts."""

from __future__ import annotations

from django import forms

from .models import Scope

EXPIRY_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "a year")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “alertmanager” or “grafana”.")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    expires_in_days = forms.TypedChoiceField(
        label="Expires in", choices=EXPIRY_CHOICES, coerce=int, initial=90
    )
