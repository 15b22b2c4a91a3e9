"""One plan's window and pace: the plan editor's form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator

from prefetch_ui.planning.local_time import LocalTimeError, parse_local_input, past_start_error
from prefetch_ui.web.display_zone import display_zone

from .tokens import shown_in_zone


class PlanWindowForm(forms.Form):
    """A plan's window and pace. Times are wall-clock times in the operator's display zone.

    `current_start` is the plan's start as it is: left unchanged it may lie in the past (a running
    plan); any other start follows the builder's rule (not more than a minute ago).
    """

    start_time = forms.CharField(
        label="Start", widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}), required=False
    )
    end_time = forms.CharField(
        label="End", widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}), required=False
    )
    interval = forms.IntegerField(label="Interval (seconds)", min_value=1)
    slice_len = forms.IntegerField(label="Batch size (URLs)", min_value=1)

    def __init__(
        self, *args: Any, current_start: datetime | None = None, now: datetime | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.zone = display_zone()
        self.current_start = current_start
        self.now = now
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
        if start and self.now and start != self.current_start:
            shown = shown_in_zone(start, self.zone)
            if message := past_start_error(start, now=self.now, shown_as=shown):
                self.add_error("start_time", message)
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
