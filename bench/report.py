"""What every benchmark prints alike: the machine its figures come from, and its verdict on the goals."""

from __future__ import annotations

import os
import platform
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

__all__ = ["cpu_model", "goals_verdict", "load_line", "machine_line"]


def machine_line(*extra: str) -> str:
    """Versions, `extra` (e.g. gunicorn's workers), CPUs and their model, load average and the time
    (UTC): what a reader needs to weigh the figures. Call it after django.setup()."""
    import django

    load = os.getloadavg()
    return ", ".join(
        [
            f"Python {platform.python_version()}",
            f"Django {django.get_version()}",
            f"SQLite {sqlite3.sqlite_version}",
            *extra,
            f"{os.cpu_count()} CPUs ({cpu_model()})",
            f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        ]
    )


def load_line() -> str:
    """The load average as the figures were taken (print it with them: the machine may be shared)."""
    load = os.getloadavg()
    return f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs ({cpu_model()})"


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (Linux), else what Python knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown model"


def goals_verdict(missed: Sequence[str]) -> str:
    """Print each missed goal on a `MISSED:` line; return the verdict for the last line."""
    for miss in missed:
        print(f"MISSED: {miss}")
    return "all goals met" if not missed else f"{len(missed)} goal(s) missed"
