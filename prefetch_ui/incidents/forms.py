"""Forms of the incidents subsystem."""

from __future__ import annotations

from django import forms

REASON_MAX_LENGTH = 2000


class HoldForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "e.g. origin 5xx above 20% since 14:05"}),
        help_text="Optional; shown on the incident and in the banner.",
    )


class ResumeForm(forms.Form):
    reschedule = forms.BooleanField(
        required=False,
        initial=True,
        label="Reschedule plans whose window ended during the hold, from now at the same rate",
    )
    reason = forms.CharField(
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "e.g. origin healthy for 30 min"}),
        help_text="Optional; shown on the incident and in the audit log.",
    )
