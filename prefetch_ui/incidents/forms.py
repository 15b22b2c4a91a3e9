"""Forms of the incidents subsystem."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms

from prefetch_ui.web.request_ids import id_number

REASON_MAX_LENGTH = 2000


class HoldForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "e.g. origin 5xx above 20% since 14:05"}),
        help_text="Optional; shown on the incident and in the banner.",
    )


PACE_RAMP = "ramp"
PACE_AS_IT_WAS = "as_it_was"
CAP_PREFIX = "cap-"
CAP_MAX = 1_000_000_000


class ResumeForm(forms.Form):
    pace = forms.ChoiceField(
        required=False,
        initial=PACE_RAMP,
        choices=[
            (PACE_RAMP, "Ramp: at most the cap below, per site (plans staggered by whole minutes)"),
            (PACE_AS_IT_WAS, "As it was: every plan put back at once"),
        ],
        widget=forms.Select(attrs={"data-autosubmit": ""}),
    )
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


def resume_caps(data: Mapping[str, str]) -> tuple[dict[int, int], list[str]]:
    """The ramp's caps a resume form sends, `cap-<site ESA id>` = URLs a minute; and what is wrong
    with any of them, in words (a cap is a whole number from 1 to a billion)."""
    caps: dict[int, int] = {}
    errors: list[str] = []
    for name, raw in data.items():
        if not name.startswith(CAP_PREFIX):
            continue
        site = name.removeprefix(CAP_PREFIX)
        value = raw.strip()
        if id_number(site) is None:
            errors.append(f"“{name[:40]}” names no site: a cap is sent as cap-<site id>.")
        elif not 1 <= (id_number(value, max_digits=10) or 0) <= CAP_MAX:
            errors.append(
                f"The cap “{value[:20]}” is not a whole number of URLs a minute from 1 to {CAP_MAX:,}."
            )
        else:
            caps[int(site)] = int(value)
    return caps, errors
