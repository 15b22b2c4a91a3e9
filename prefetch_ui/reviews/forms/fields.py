"""Fields the team lead's filters share."""

from __future__ import annotations

from typing import Any

from django import forms

from prefetch_ui.prefetch.models import Site


def _site_choices() -> list[tuple[str, str]]:
    sites = Site.objects.order_by("name").values_list("esa_id", "name")
    return [("", "every site"), *((str(esa_id), name) for esa_id, name in sites)]


class SiteField(forms.ChoiceField):
    """A site picked by its ESA id among the mirrored ones; cleans to the Site, or None for every site.

    Only an id offered in the list is looked up, so text, NUL bytes or a 40-digit number are refused
    with the same clear message before any query.
    """

    def __init__(self, **kwargs: Any) -> None:
        # A callable: read when a form is made, not when the module is imported.
        super().__init__(choices=_site_choices, required=False, label="Site", **kwargs)
        self.error_messages["invalid_choice"] = "“%(value)s” is not a site this dashboard knows."

    def __deepcopy__(self, memo: dict[int, Any]) -> SiteField:
        # Each form gets its own copy of the field: read the sites once for it, then both the
        # check and the <select> use that list (a callable would be read for each).
        field = super().__deepcopy__(memo)
        field.choices = _site_choices()
        return field

    def clean(self, value: Any) -> Site | None:
        esa_id = super().clean(value)
        return Site.objects.get(esa_id=int(esa_id)) if esa_id else None
