"""A throwaway PostgreSQL server for the tests, from the server binaries Debian's `postgresql` installs.

`make test` runs the suite a second time against one (`python -m prefetch_ui.dev.embedded_postgres --
pytest`), the way `embedded_redis` gives the tests a real Redis: the same server as in production,
only started by us, in a temporary directory, on loopback, for one run. Nothing here is a system
service: no cluster of the machine is used or touched.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user (which the
Debian package creates), or to a system user created for it when that is missing; otherwise it runs
as whoever calls. It is fast and fragile on purpose (no fsync): its data lives as long as the run.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from prefetch_ui.dev.ports import free_port

__all__ = ["DATABASE_NAME", "find_bin_dir", "main", "postgres_server"]

DATABASE_NAME = "prefetch"
SUPERUSER = "prefetch"
# The owner of the cluster when we run as root and Debian's `postgres` user is missing.
FALLBACK_SERVER_USER = "prefetch-postgres"
DEBIAN_BIN_DIRS = "/usr/lib/postgresql/*/bin"
STOP_GRACE_SECONDS = 15.0

# A production server's own zone is seldom UTC: the tests must not depend on it (Django sets each
# connection's zone itself), so ours is deliberately neither UTC nor a whole hour away from it.
SERVER_TIME_ZONE = "Asia/Kolkata"

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # Nothing here has to survive a crash: the cluster is deleted afterwards anyway.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "TimeZone": SERVER_TIME_ZONE,
    # The suite runs live servers and Celery workers (threads and processes) with their own
    # connections beside pytest's.
    "max_connections": "200",
    # What goes wrong is logged to the cluster's log, which a failed start prints.
    "log_min_messages": "warning",
}


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/<version>/bin, else the
    directory of an `initdb` on PATH; None when there is none (`make test` then installs Debian's)."""
    debian = [Path(initdb).parent for initdb in glob.glob(f"{DEBIAN_BIN_DIRS}/initdb")]
    if debian:
        return max(debian, key=lambda bin_dir: _version_key(bin_dir.parent.name))
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


@dataclass(frozen=True)
class _ServerUser:
    """Who the server runs as: another user (uid, gid) when we are root, else None (ourselves)."""

    ids: tuple[int, int] | None

    def popen_args(self) -> dict[str, Any]:
        """What subprocess needs to run a binary as this user."""
        if self.ids is None:
            return {}
        return {"user": self.ids[0], "group": self.ids[1], "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.ids is not None:
            os.chown(path, *self.ids)


def _server_user() -> _ServerUser:
    if os.geteuid() != 0:
        return _ServerUser(None)
    for name in ("postgres", FALLBACK_SERVER_USER):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _ServerUser((entry.pw_uid, entry.pw_gid))
    # Server binaries without Debian's package (which creates `postgres`): a user of our own.
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            *(useradd, "--system", "--user-group", "--no-create-home"),
            *("--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", FALLBACK_SERVER_USER),
        ],
        check=True,
    )
    entry = pwd.getpwnam(FALLBACK_SERVER_USER)
    return _ServerUser((entry.pw_uid, entry.pw_gid))


def _run(argv: Sequence[str], user: _ServerUser, *, cwd: Path, what: str) -> None:
    result = subprocess.run(  # noqa: S603 - the server's own binaries, fixed arguments
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        **user.popen_args(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (SIGINT: clients are disconnected), then immediate (SIGQUIT), then SIGKILL."""
    for signum, grace in ((signal.SIGINT, STOP_GRACE_SECONDS), (signal.SIGQUIT, 5.0)):
        if process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    process.wait()


@contextmanager
def postgres_server(
    directory: Path | None = None, *, port: int | None = None, timeout: float = 60
) -> Iterator[str]:
    """Run a throwaway PostgreSQL cluster for the `with` block; yields its `postgres://` URL.

    The URL names the superuser `prefetch` (with a random password) and an empty database
    `prefetch` on 127.0.0.1:`port` (a free one by default). The cluster lives in a new temporary
    directory inside `directory` (default: the system's temporary directory), which the server's
    user must be able to reach; it is stopped and deleted when the block ends, however it ends.
    Raises RuntimeError when there are no server binaries or the server does not start in time.
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError(
            "no PostgreSQL server binaries (initdb) found under "
            f"{DEBIAN_BIN_DIRS} or on PATH; install Debian's `postgresql` package"
        )
    user = _server_user()
    port = port or free_port()
    password = secrets.token_urlsafe(24)
    root = Path(tempfile.mkdtemp(prefix="prefetch-postgres-", dir=directory))
    process: subprocess.Popen[bytes] | None = None
    try:
        user.own(root)
        data_dir = root / "data"
        password_file = root / "password"
        password_file.write_text(password + "\n")
        user.own(password_file)
        _run(
            [
                str(bin_dir / "initdb"),
                *("--pgdata", str(data_dir), "--username", SUPERUSER, "--pwfile", str(password_file)),
                # Over TCP a password, as in production; the socket is in a directory only the
                # server's user (and root) can enter.
                *("--auth-host", "scram-sha-256", "--auth-local", "trust"),
                # Code-point order, as SQLite's and as the official postgres:*-alpine image's (musl
                # has no collation): every machine has C.UTF-8, and no test depends on a language.
                *("--encoding", "UTF8", "--locale", "C.UTF-8", "--no-sync"),
            ],
            user,
            cwd=root,
            what="initdb",
        )
        password_file.unlink()
        log_path = root / "server.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - the server's own binary, fixed arguments
                [
                    str(bin_dir / "postgres"),
                    *("-D", str(data_dir), "-p", str(port), "-k", str(root)),
                    *(arg for name, value in SERVER_SETTINGS.items() for arg in ("-c", f"{name}={value}")),
                ],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: a terminal's Ctrl-C interrupts the tests, which then clean
                # up against a server still running; this block stops it after them.
                process_group=0,
                **user.popen_args(),
            )
        _wait_until_ready(bin_dir, root, port, user, process, log_path, timeout)
        _run(
            [str(bin_dir / "createdb"), "-h", str(root), "-p", str(port), "-U", SUPERUSER, DATABASE_NAME],
            user,
            cwd=root,
            what="createdb",
        )
        yield f"postgres://{SUPERUSER}:{password}@127.0.0.1:{port}/{DATABASE_NAME}"
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_ready(
    bin_dir: Path,
    socket_dir: Path,
    port: int,
    user: _ServerUser,
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ready = subprocess.run(  # noqa: S603 - the server's own binary, fixed arguments
            [str(bin_dir / "pg_isready"), "-q", "-h", str(socket_dir), "-p", str(port)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            **user.popen_args(),
        )
        if ready.returncode == 0:
            return
        if process.poll() is not None or time.monotonic() > deadline:
            state = f"exited with {process.returncode}" if process.poll() is not None else "not ready"
            log = log_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"PostgreSQL {state} on port {port} after {timeout:.0f} s; its log:\n{log}")
        time.sleep(0.1)


# -- python -m prefetch_ui.dev.embedded_postgres -- <command> --------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Start a cluster, run the command with DATABASE_URL pointing at it, stop the cluster; return the
    command's exit code (128 + N when a signal N ended it)."""
    parser = argparse.ArgumentParser(
        prog="python -m prefetch_ui.dev.embedded_postgres",
        description="Run a command against a throwaway PostgreSQL server (DATABASE_URL is set for it).",
    )
    parser.add_argument("--port", type=int, default=None, help="the server's port (default: a free one)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    # Until the command runs, a SIGTERM or SIGHUP ends the start-up through the clean-up below (by
    # default they would end this process there and then, leaving the server behind).
    def give_up(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, give_up)
    started = time.monotonic()
    with postgres_server(port=args.port) as url:
        _say(f"PostgreSQL ready at {_without_password(url)} in {time.monotonic() - started:.1f} s")
        child = subprocess.Popen(command, env=os.environ | {"DATABASE_URL": url})  # noqa: S603

        # A terminal's Ctrl-C reaches the command directly, as with any child of a shell: this
        # process waits for it, then stops the server. A SIGTERM or SIGHUP sent to this process
        # alone (a CI timeout) is passed on, and ends the run alike. Handlers, not SIG_IGN: the
        # command was started with the default dispositions.
        def forward(signum: int, frame: FrameType | None) -> None:
            if child.poll() is None and signum != signal.SIGINT:
                child.send_signal(signum)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)
        # Nothing is printed after the command's own last line (pytest's summary, which CI reads).
        code = child.wait()
    return code if code >= 0 else 128 - code


def _say(message: str) -> None:
    print(f"[embedded-postgres] {message}", file=sys.stderr, flush=True)


def _without_password(url: str) -> str:
    return re.sub(r":[^:@/]+@", ":***@", url)


if __name__ == "__main__":
    sys.exit(main())
