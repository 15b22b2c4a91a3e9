"""Forms: what operators type, checked and turned into what ESA takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from .timezones import LocalTimeError, display_zone, parse_local_input


class PlanWindowForm(forms.Form):
    """A plan's window and pace. Times are wall-clock times in the operator's display zone."""

    start_time = forms.CharField(
        label="Start", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), required=False
    )
    end_time = forms.CharField(
        label="End", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), required=False
    )
    interval = forms.IntegerField(label="Interval (seconds)", min_value=1)
    slice_len = forms.IntegerField(label="Batch size (URLs)", min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = display_zone()
        # ESA does not publish its ranges: the limits are settings, read per form so tests can vary them.
        for name, ceiling in (
            ("interval", settings.PREFETCH_MAX_INTERVAL),
            ("slice_len", settings.PREFETCH_MAX_SLICE_LEN),
        ):
            self.fields[name].validators.append(MaxValueValidator(ceiling))
            self.fields[name].widget.attrs.update(min=1, max=ceiling)

    def _utc(self, name: str, label: str) -> datetime | None:
        try:
            return parse_local_input(self.cleaned_data.get(name) or "", self.zone, label=label)
        except LocalTimeError as error:
            self.add_error(name, str(error))
            return None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = self._utc("start_time", "Start"), self._utc("end_time", "End")
        if start is not None and end is not None and end <= start:
            self.add_error("end_time", "The end must be after the start.")
        cleaned["start_utc"], cleaned["end_utc"] = start, end
        return cleaned

    def operation_params(self) -> dict[str, object]:
        """The update as the operation stores it: unambiguous ISO 8601 in UTC."""
        data = self.cleaned_data
        return {
            "start_time": data["start_utc"].isoformat(),
            "end_time": data["end_utc"].isoformat(),
            "interval": data["interval"],
            "slice_len": data["slice_len"],
        }
