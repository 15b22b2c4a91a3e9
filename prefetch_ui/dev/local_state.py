"""Where `make run` keeps its local state: PREFETCH_VAR_DIR, by default `var/` in the repository.

That is the SQLite database (unless DATABASE_URL is set), the simulator's state, the beat schedule and
the dev logins; `var/` is git-ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_DIR", "dev_logins_file", "var_dir"]

REPO_DIR = Path(__file__).resolve().parents[2]


def var_dir() -> Path:
    """PREFETCH_VAR_DIR (default `var/`), created if missing."""
    path = Path(os.environ.get("PREFETCH_VAR_DIR") or REPO_DIR / "var").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def dev_logins_file() -> Path:
    """The dev logins' passwords: written by `create_dev_logins`, printed by `make run`."""
    return var_dir() / "dev-logins.txt"
