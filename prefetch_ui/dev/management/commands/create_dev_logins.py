"""`manage.py create_dev_logins`: the superuser `admin`, the read-only `viewer` and the Operators group.

`make run` runs it after migrating. Idempotent: the logins file is the source of truth, so a second
run finds every account as the file says and changes nothing. It never prints a password; they are in
the file (mode 0600), and `make run`'s banner shows them.
"""

from __future__ import annotations

import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from prefetch_ui.dev.local_state import dev_logins_file
from prefetch_ui.dev.logins import DEV_USERS, read_logins, write_logins
from prefetch_ui.web.permissions import OPERATORS_GROUP


class Command(BaseCommand):
    help = (
        "Create the dev logins that `make run` prints: a superuser `admin` and a read-only `viewer`, "
        "with the passwords in the logins file (random ones are added to it when missing), and the "
        f"{OPERATORS_GROUP} group. For local development only."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--logins-file",
            type=Path,
            default=None,
            help="where the passwords are kept (default: dev-logins.txt in $PREFETCH_VAR_DIR, else in var/)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logins_file: Path = options["logins_file"] or dev_logins_file()
        passwords = read_logins(logins_file)
        for username, _ in DEV_USERS:
            passwords.setdefault(username, secrets.token_urlsafe(12))
        # The file first, so that a password in the database is always one the file holds. Rewritten
        # every time, with the same passwords, which also restores its 0600 mode.
        write_logins(logins_file, passwords)
        changed = self._set_up_accounts(passwords)
        if options["verbosity"] >= 1:
            done = f"set up {', '.join(changed)}" if changed else "already set up"
            self.stdout.write(f"Dev logins: {done}; passwords in {logins_file}")

    @transaction.atomic
    def _set_up_accounts(self, passwords: dict[str, str]) -> list[str]:
        """Make the accounts match `passwords`; return what had to change."""
        changed = []
        if Group.objects.get_or_create(name=OPERATORS_GROUP)[1]:
            changed.append(f"group {OPERATORS_GROUP}")
        user_model = get_user_model()
        for username, superuser in DEV_USERS:
            user, created = user_model.objects.get_or_create(
                username=username, defaults={"is_staff": superuser, "is_superuser": superuser}
            )
            if created or not user.check_password(passwords[username]):
                user.set_password(passwords[username])
                user.save(update_fields=["password"])
                changed.append(username)
        return changed
