"""`manage.py create_dev_logins`: the accounts `make run` prints, made idempotently from the logins file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from prefetch_ui.dev.logins import read_logins
from prefetch_ui.web.permissions import OPERATORS_GROUP, can_operate

pytestmark = pytest.mark.django_db


def _create_dev_logins(logins_file: Path) -> str:
    output = io.StringIO()
    call_command("create_dev_logins", logins_file=logins_file, stdout=output)
    return output.getvalue()


def _accounts() -> list[tuple[str, str, bool, bool, list[str]]]:
    return [
        (user.username, user.password, user.is_superuser, user.is_staff, [g.name for g in user.groups.all()])
        for user in User.objects.order_by("username")
    ]


def test_it_creates_an_operator_a_viewer_and_the_operators_group(tmp_path: Path) -> None:
    logins_file = tmp_path / "var" / "dev-logins.txt"

    output = _create_dev_logins(logins_file)

    passwords = read_logins(logins_file)
    assert set(passwords) == {"admin", "viewer"}
    assert (logins_file.stat().st_mode & 0o777) == 0o600
    assert Group.objects.filter(name=OPERATORS_GROUP).exists()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password(passwords["admin"])
    assert can_operate(admin)
    viewer = User.objects.get(username="viewer")
    assert not viewer.is_superuser and not viewer.is_staff and viewer.check_password(passwords["viewer"])
    assert not viewer.groups.filter(name=OPERATORS_GROUP).exists()
    assert not can_operate(viewer)
    # The passwords stay in the file; the output only says where it is.
    assert str(logins_file) in output
    assert all(password not in output for password in passwords.values())


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    logins_file = tmp_path / "dev-logins.txt"
    _create_dev_logins(logins_file)
    accounts, groups = _accounts(), list(Group.objects.values_list("name"))
    file_text = logins_file.read_text()

    output = _create_dev_logins(logins_file)

    assert "already set up" in output
    assert _accounts() == accounts
    assert list(Group.objects.values_list("name")) == groups
    assert logins_file.read_text() == file_text


def test_the_file_is_the_source_of_truth(tmp_path: Path) -> None:
    logins_file = tmp_path / "dev-logins.txt"
    logins_file.write_text("# kept from an earlier run\nadmin kept-admin-password\n")
    logins_file.chmod(0o644)
    User.objects.create_user("viewer", password="changed-by-hand")

    _create_dev_logins(logins_file)

    passwords = read_logins(logins_file)
    assert passwords["admin"] == "kept-admin-password"
    assert User.objects.get(username="admin").check_password("kept-admin-password")
    # A password that differs from the file's is set back to it; a missing one is generated.
    assert passwords["viewer"] != "changed-by-hand"
    assert User.objects.get(username="viewer").check_password(passwords["viewer"])
    assert (logins_file.stat().st_mode & 0o777) == 0o600
