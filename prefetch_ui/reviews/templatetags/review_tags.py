"""Display helpers of the team lead's pages."""

from __future__ import annotations

from datetime import timedelta

from django import template

from prefetch_ui.reviews.selectors.outlooks import FLAG_HINTS

register = template.Library()


@register.filter
def flag_hint(flag: str) -> str:
    """Why the overview flags a site or job (`failed`, `late`, `held`, `stalled`)."""
    return FLAG_HINTS.get(flag, "")


@register.filter
def duration_label(span: timedelta) -> str:
    """`10 minutes`, `1 minute`, `2 hours`: a bucket's length in words."""
    minutes = int(span.total_seconds() // 60)
    if minutes % 60 == 0 and minutes >= 60:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
