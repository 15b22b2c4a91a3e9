"""Forms: what operators type, checked and turned into what ESA takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from .timezones import LocalTimeError, display_zone, local_to_utc


class PlanWindowForm(forms.Form):
    """A plan's window and pace. Times are wall-clock times in the display zone."""

    start_time = forms.DateTimeField(
        label="Start", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
    )
    end_time = forms.DateTimeField(
        label="End", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
    )
    interval = forms.IntegerField(label="Interval (seconds)", min_value=1)
    slice_len = forms.IntegerField(label="Batch size (URLs)", min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = display_zone()
        for name in ("start_time", "end_time"):
            self.fields[name].widget = forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            )
        # ESA does not publish its ranges: the limits are settings, read per form so tests can vary them.
        for name, ceiling in (
            ("interval", settings.PREFETCH_MAX_INTERVAL),
            ("slice_len", settings.PREFETCH_MAX_SLICE_LEN),
        ):
            self.fields[name].validators.append(MaxValueValidator(ceiling))
            self.fields[name].widget.attrs.update(min=1, max=ceiling)

    def _utc(self, name: str) -> datetime | None:
        value = self.cleaned_data.get(name)
        if value is None:
            return None
        try:
            return local_to_utc(value.replace(tzinfo=None), self.zone)
        except LocalTimeError as error:
            self.add_error(name, str(error))
            return None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = self._utc("start_time"), self._utc("end_time")
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
