"""The timeline's window (a preset or two typed times, in the operator's zone) and site."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms

from prefetch_ui.planning.local_time import LocalTimeError, parse_local_input, utc_to_local_input
from prefetch_ui.web.display_zone import display_zone

from .fields import SiteField

# Preset windows: (hours before now, hours after now).
SPANS: dict[str, tuple[int, int]] = {
    "default": (6, 18),
    "next24": (0, 24),
    "last24": (24, 0),
    "next72": (0, 72),
    "week": (24, 144),
}
SPAN_LABELS = {
    "default": "Last 6 h, next 18 h",
    "next24": "Next 24 h",
    "last24": "Last 24 h",
    "next72": "Next 3 days",
    "week": "Last day, next 6 days",
}
# Longer windows would draw bars too thin to read and make the forecast count every minute of it.
MAX_WINDOW = timedelta(days=7)
# Zooming in stops here: a shorter window shows less than a batch interval's worth of most plans.
MIN_WINDOW = timedelta(minutes=30)


def window_zooms(start: datetime, end: datetime) -> dict[str, tuple[datetime, datetime] | None]:
    """The windows the zoom links lead to, each None where it cannot go: "zoom_in" halves the window
    around its centre (not under MIN_WINDOW), "zoom_out" doubles it (at most MAX_WINDOW), "earlier" and
    "later" move it by half its length. Whole minutes, as the window's inputs show them."""
    length = end - start
    centre = start + length / 2

    def around(half: timedelta) -> tuple[datetime, datetime]:
        return _minute(centre - half), _minute(centre + half)

    zoom_in = around(length / 4) if length / 2 >= MIN_WINDOW else None
    zoom_out = around(min(length, MAX_WINDOW / 2)) if length < MAX_WINDOW else None
    step = _minute(start + length / 2) - start
    return {
        "zoom_in": zoom_in,
        "zoom_out": zoom_out,
        "earlier": (start - step, end - step),
        "later": (start + step, end + step),
    }


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class TimelineFilterForm(forms.Form):
    """`span` picks a preset; `start` and `end`, both typed, win over it."""

    span = forms.ChoiceField(choices=list(SPAN_LABELS.items()), required=False, label="Window")
    start = forms.CharField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.CharField(
        required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    site = SiteField()

    def __init__(self, *args: object, now: datetime, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.now = now
        zone = display_zone()
        self.fields["start"].label = f"From ({zone.key})"
        self.fields["end"].label = f"To ({zone.key})"

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        typed_start, typed_end = cleaned.get("start") or "", cleaned.get("end") or ""
        if not typed_start and not typed_end:
            before, after = SPANS[str(cleaned.get("span") or "default")]
            minute = self.now.replace(second=0, microsecond=0)
            cleaned["window"] = (minute - timedelta(hours=before), minute + timedelta(hours=after))
            return cleaned
        zone = display_zone()
        try:
            start = parse_local_input(str(typed_start), zone, label="From")
            end = parse_local_input(str(typed_end), zone, label="To")
        except LocalTimeError as error:
            raise forms.ValidationError(str(error)) from None
        if end <= start:
            raise forms.ValidationError("“To” must be after “From”.")
        if end - start > MAX_WINDOW:
            raise forms.ValidationError(
                f"The window is {(end - start).days} days long; the timeline shows at most 7 days."
            )
        cleaned["window"] = (start, end)
        return cleaned

    def window_inputs(self) -> tuple[str, str]:
        """The window as the two inputs show it (filled in from the preset when none was typed)."""
        start, end = self.cleaned_data["window"]
        zone = display_zone()
        return utc_to_local_input(start, zone), utc_to_local_input(end, zone)
