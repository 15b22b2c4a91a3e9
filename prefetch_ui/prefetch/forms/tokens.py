"""What every form shares: the token that makes a second submit join the first, and times shown
with their zone in messages."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from prefetch_ui.planning.local_time import utc_to_local_input

FORM_TOKEN = re.compile(r"^[0-9a-f]{24}$")


def new_form_token() -> str:
    """The token a form carries so that its second submit joins the first (see services.creates)."""
    return secrets.token_hex(12)


def form_token_or_new(token: str) -> str:
    """A valid token is kept through every re-render; a missing or altered one is replaced."""
    return token if FORM_TOKEN.fullmatch(token) else new_form_token()


def shown_in_zone(moment: datetime, zone: ZoneInfo) -> str:
    """`2031-06-01 09:00 Europe/London`: a time as a message names it."""
    return f"{utc_to_local_input(moment, zone).replace('T', ' ')} {zone.key}"
