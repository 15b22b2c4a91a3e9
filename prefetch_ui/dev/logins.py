"""The dev logins file: one `username password` line per account, mode 0600.

Kept apart from the `create_dev_logins` command so that the devserver, which never sets up Django,
can read the passwords it prints in its banner.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEV_USERS", "read_logins", "write_logins"]

# (username, is a superuser): the operator and the read-only account shown in `make run`'s banner.
DEV_USERS = (("admin", True), ("viewer", False))


def read_logins(path: Path) -> dict[str, str]:
    """Passwords by username; empty when the file does not exist yet."""
    if not path.exists():
        return {}
    logins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and not line.startswith("#"):
            logins[fields[0]] = fields[1]
    return logins


def write_logins(path: Path, logins: dict[str, str]) -> None:
    """Replace the file at once, readable by its owner only: it holds passwords."""
    text = "# Dev logins written by `manage.py create_dev_logins` (make run); local use only.\n" + "".join(
        f"{username} {password}\n" for username, password in logins.items()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # in case a stale partial file had looser permissions
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    partial.replace(path)
