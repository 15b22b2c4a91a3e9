"""What every benchmark prints alike: the machine its figures come from, and its verdict on the goals."""

from __future__ import annotations

import os
import platform
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

__all__ = ["goals_verdict", "machine_line"]


def machine_line(*extra: str) -> str:
    """Versions, `extra` (e.g. gunicorn's workers), CPUs, load average and the time (UTC): what a
    reader needs to weigh the figures. Call it after django.setup()."""
    import django

    load = os.getloadavg()
    return ", ".join(
        [
            f"Python {platform.python_version()}",
            f"Django {django.get_version()}",
            f"SQLite {sqlite3.sqlite_version}",
            *extra,
            f"{os.cpu_count()} CPUs",
            f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        ]
    )


def goals_verdict(missed: Sequence[str]) -> str:
    """Print each missed goal on a `MISSED:` line; return the verdict for the last line."""
    for miss in missed:
        print(f"MISSED: {miss}")
    return "all goals met" if not missed else f"{len(missed)} goal(s) missed"
