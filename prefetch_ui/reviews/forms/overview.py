"""The overview's filters: which site, only what needs attention, and the order."""

from __future__ import annotations

from django import forms

from .fields import SiteField

SORTS = (("attention", "Needs attention first"), ("name", "Site name"))


class OverviewFilterForm(forms.Form):
    site = SiteField()
    attention = forms.BooleanField(required=False, label="Only what needs attention")
    sort = forms.ChoiceField(choices=SORTS, required=False, label="Order")

    def clean_sort(self) -> str:
        return str(self.cleaned_data.get("sort") or "attention")
