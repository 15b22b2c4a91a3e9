"""The form of the tokens page: what a new token is called, may do, and how long it lasts."""

from __future__ import annotations

from django import forms

from prefetch_ui.prefetch.forms.tokens import FORM_TOKEN

from .models import Scope

EXPIRY_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "a year")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “alertmanager” or “grafana”.")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    expires_in_days = forms.TypedChoiceField(
        label="Expires in", choices=EXPIRY_CHOICES, coerce=int, initial=90
    )
    # What makes a second submit of the same form (a reload) make no second token. One that is not a
    # form token (altered, or none) only loses that: the form is made as asked.
    form_token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=100)

    def clean_form_token(self) -> str:
        token = str(self.cleaned_data.get("form_token") or "")
        return token if FORM_TOKEN.fullmatch(token) else ""
