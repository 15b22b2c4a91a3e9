"""The audit log's filters, read from the query string: who, what, result, site and a time range."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth.models import User

from prefetch_ui.planning.local_time import LocalTimeError, parse_local_input
from prefetch_ui.web.display_zone import display_zone

from ..selectors.audit import AUDIT_KINDS, AUDIT_RESULTS, AuditFilters, audit_actor_names
from .fields import SiteField

_MAX_USERNAME_LENGTH = 150  # Django's User.username


def _choices(anything: str, named: dict[str, str]) -> list[tuple[str, str]]:
    return [("", anything), *named.items()]


class AuditFilterForm(forms.Form):
    """Bound to request.GET; every field optional. `filters()` gives the selector what it checked."""

    who = forms.CharField(
        label="Who",
        required=False,
        max_length=_MAX_USERNAME_LENGTH,
        error_messages={
            "max_length": "Who is a username: at most %(limit_value)d characters.",
            "null_characters_not_allowed": "Who contains a NUL character: pick someone from the list.",
        },
        widget=forms.Select(),
    )
    kind = forms.ChoiceField(
        label="What",
        required=False,
        choices=_choices("anything", AUDIT_KINDS),
        error_messages={"invalid_choice": "“%(value)s” is not a kind of action."},
    )
    result = forms.ChoiceField(
        label="Result",
        required=False,
        choices=_choices("any result", AUDIT_RESULTS),
        error_messages={"invalid_choice": f"“%(value)s” is not a result: choose {', '.join(AUDIT_RESULTS)}."},
    )
    site = SiteField()
    since = forms.CharField(
        label="From",
        required=False,
        error_messages={
            "null_characters_not_allowed": "From contains a NUL character: type a date and time."
        },
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.CharField(
        label="To",
        required=False,
        error_messages={"null_characters_not_allowed": "To contains a NUL character: type a date and time."},
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        actors = audit_actor_names()
        asked = str(self.data.get("who", "")) if self.is_bound else ""
        # Someone who has done nothing yet is still a valid filter; list them so the page shows it.
        # (Not yet validated: a NUL would make PostgreSQL refuse the lookup, so `clean_who` says why.)
        plausible = asked and "\x00" not in asked and len(asked) <= _MAX_USERNAME_LENGTH
        if plausible and asked not in actors and User.objects.filter(username=asked).exists():
            actors.append(asked)
        self.fields["who"].widget.attrs.pop("maxlength", None)  # CharField adds it; a <select> has none
        self.fields["who"].widget.choices = [("", "anyone"), *((name, name) for name in actors)]

    def clean_who(self) -> User | None:
        username: str = self.cleaned_data["who"]
        if not username:
            return None
        user = User.objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(f"There is no user “{username}”.")
        return user

    def _moment(self, field: str) -> datetime | None:
        text: str = self.cleaned_data[field]
        if not text.strip():
            return None
        try:
            return parse_local_input(text, display_zone(), label=str(self.fields[field].label or field))
        except LocalTimeError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_since(self) -> datetime | None:
        return self._moment("since")

    def clean_until(self) -> datetime | None:
        return self._moment("until")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since is not None and until is not None and since >= until:
            raise forms.ValidationError("From must be before To.")
        return cleaned

    def filters(self) -> AuditFilters:
        """The checked filters; call only once `is_valid()` is true."""
        cleaned = self.cleaned_data
        return AuditFilters(
            actor=cleaned["who"],
            kind=cleaned["kind"],
            result=cleaned["result"],
            site=cleaned["site"],
            start=cleaned["since"],
            end=cleaned["until"],
        )
