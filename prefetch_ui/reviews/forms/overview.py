"""The overview's filters: which site, only what needs attention, and the order."""

from __future__ import annotations

from typing import Any

from django import forms

from prefetch_ui.prefetch.models import Site

SORTS = (("attention", "Needs attention first"), ("name", "Site name"))


class SiteChoiceField(forms.TypedChoiceField):
    """A site by its ESA id, among the mirrored ones ("" for every site)."""

    def __init__(self, **kwargs: Any) -> None:
        # A callable: read when a form is made, not when this module is imported.
        super().__init__(
            choices=_site_choices, coerce=int, empty_value=None, required=False, label="Site", **kwargs
        )
        self.error_messages["invalid_choice"] = "“%(value)s” is not a site this dashboard knows."


def _site_choices() -> list[tuple[str, str]]:
    sites = Site.objects.order_by("name").values_list("esa_id", "name")
    return [("", "Every site"), *((str(esa_id), name) for esa_id, name in sites)]


class OverviewFilterForm(forms.Form):
    site = SiteChoiceField()
    attention = forms.BooleanField(required=False, label="Only what needs attention")
    sort = forms.ChoiceField(choices=SORTS, required=False, label="Order")

    def clean_sort(self) -> str:
        return str(self.cleaned_data.get("sort") or "attention")
