"""The quota check (`prefetch.selectors.quota_checks`) as the API says it: its figures, and the
pages' warnings (templates/prefetch/_quota_words.html) as plain text, one sentence a warning,
prefixed with a code as every API warning is, times in the quota's own zone."""

from __future__ import annotations

from html import unescape

from django.template.loader import render_to_string

from prefetch_ui.prefetch.selectors.quota_checks import QuotaCheck, QuotaCheckState

from .write_targets import site_warnings

__all__ = ["quota_check_out", "quota_warnings"]

_WORDS = "prefetch/_quota_words.html"


def _text(partial: str, context: dict[str, object]) -> str:
    # Rendered as the pages render it (escaped), then made plain text again: one template of words.
    return unescape(" ".join(render_to_string(f"{_WORDS}#{partial}", context).split()))


def quota_warnings(check: QuotaCheck | None, *, scope: str, ramp: bool = False) -> list[str]:
    """`quota_exceeded: …` for each quota day on which ESA would refuse URLs because of the plans, or
    `site_paused: …`; nothing when they fit or the quota is unknown. (A site not active is
    `write_targets.site_warnings`' to say.) `scope`: "batch" or "resume", as the pages take it."""
    if check is None:
        return []
    context: dict[str, object] = {"check": check, "scope": scope, "ramp": ramp, "time_zone": check.zone_name}
    if check.state == QuotaCheckState.EXCEEDED:
        return [f"quota_exceeded: {_text('exceeded', context | {'day': day})}" for day in check.exceeded]
    if check.state == QuotaCheckState.NOT_RUNNING and check.paused:
        return [f"site_paused: {_text('not_running', context)}"]
    return []


def quota_check_out(check: QuotaCheck | None, *, scope: str, ramp: bool = False) -> dict[str, object] | None:
    """The check's figures, day by day, and its warnings (with a site not active, as the pages)."""
    if check is None:
        return None
    return {
        "state": check.state.value,
        "time_zone": check.zone_name,
        "days": [
            {
                "day": day.day,
                "quota": day.quota,
                "sends": day.sends,
                "left": day.left,
                "refused": day.refused,
                "runs_out_at": day.runs_out_at,
            }
            for day in check.days
        ],
        "warnings": [*site_warnings(check.site), *quota_warnings(check, scope=scope, ramp=ramp)],
    }
