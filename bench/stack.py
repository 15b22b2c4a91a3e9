"""The live stack a benchmark runs against: the ESA simulator, Redis, Celery workers and beat, gunicorn.

Built on the devserver's supervisor (`prefetch_ui.dev.processes`), so each part runs in its own
process group and is stopped as `make run` stops it; the parts' output goes to a log file instead
of the terminal (echoed with `echo=True`), each line stamped with the wall-clock time, so that it
can be read beside the simulator's call log.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TextIO

import httpx

from prefetch_ui.dev.embedded_redis import redis_server_command
from prefetch_ui.dev.processes import STOP_GRACE_SECONDS, Child, Stopping, Supervisor

__all__ = ["Stack", "production_settings"]

_LISTENING = re.compile(r"listening on (http://\S+)")
_BEAT_STARTED = re.compile(r"beat: Starting")


def production_settings(
    work_dir: Path, *, redis_url: str = "", log_level: str = "WARNING", **extra: str
) -> None:
    """Production settings (DEBUG off, a secret key of its own) for this process and the children a
    benchmark starts, before Django reads them: a throwaway SQLite database and static folder in
    `work_dir`, plain HTTP on loopback (no HTTPS redirect, no secure-only cookies), and `extra`."""
    static = work_dir / "static"
    static.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns of a missing folder on every start
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "prefetch_ui.settings",
            "DATABASE_URL": f"sqlite:///{work_dir / 'db.sqlite3'}",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-" + secrets.token_urlsafe(40),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,testserver",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_STATIC_ROOT": str(static),
            "DJANGO_LOG_LEVEL": log_level,
            "PYTHONUNBUFFERED": "1",
            **({"REDIS_URL": redis_url} if redis_url else {}),
            **extra,
        }
    )


class Stack(Supervisor):
    """A supervisor whose children's output goes to `log`, and which knows how to start each part."""

    def __init__(self, *, cwd: Path, log: TextIO, echo: bool = False) -> None:
        super().__init__(cwd=cwd)
        self._log = log
        self._echo = echo
        self.workers: dict[str, Child] = {}

    def emit(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime()) + f".{int(time.time() * 1000) % 1000:03d}"
        with self._output_lock, contextlib.suppress(OSError, ValueError):
            self._log.write(f"{stamp} {line}\n")
            self._log.flush()
            if self._echo:
                print(line, flush=True)

    def start_simulator(self, state: Path, *args: str, port: int = 0, timeout: float = 20) -> str:
        """`python -m prefetch_ui.esa_sim` on `port` (0: a free one); returns its endpoint once it answers."""
        command = [
            sys.executable,
            "-m",
            "prefetch_ui.esa_sim",
            "--port",
            str(port),
            "--state",
            str(state),
            *args,
        ]
        sim = self.start("esa-sim", command, ready_pattern=_LISTENING)
        self.wait_for("the ESA simulator", lambda: sim.ready_match is not None, timeout=timeout)
        if sim.ready_match is None:  # for mypy: wait_for has returned
            raise Stopping("the ESA simulator did not say where it listens", 2)
        return sim.ready_match.group(1)

    def start_worker(self, name: str) -> Child:
        """A Celery worker as `make run` starts one (thread pool, both queues), named `name`."""
        command = [
            *_celery(),
            *("worker", "--loglevel", "INFO", "--queues", "incidents,celery"),
            *("--hostname", f"{name}@%h"),
        ]
        self.workers[name] = child = self.start(name, command)
        return child

    def start_beat(self, schedule: Path, *, timeout: float = 30) -> None:
        beat = self.start(
            "beat",
            [*_celery(), "beat", "--loglevel", "INFO", "--schedule", str(schedule)],
            ready_pattern=_BEAT_STARTED,
        )
        self.wait_for("Celery beat", lambda: beat.ready_match is not None, timeout=timeout)

    def start_redis(self, port: int, directory: Path, *, appendonly: bool, timeout: float = 10) -> Child:
        """redis-server on loopback `port`, as a child named `redis`; returns once it accepts connections.

        With `appendonly`, a redis-server started again on the same directory has the same data.
        """
        directory.mkdir(parents=True, exist_ok=True)
        child = self.start("redis", redis_server_command(port, directory, appendonly=appendonly))

        def accepts() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            except OSError:
                return False
            return True

        self.wait_for("redis-server", accepts, timeout=timeout)
        return child

    def start_web(self, port: int, *, workers: int = 2, timeout: float = 60) -> str:
        """gunicorn with the project's WSGI app on loopback `port`; returns its URL once /healthz answers."""
        command = [
            *(sys.executable, "-m", "gunicorn", "prefetch_ui.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
        ]
        self.start("web", command)
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_for("gunicorn", answers, timeout=timeout)
        return url

    def stop_child(self, name: str, *, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop one child (SIGTERM, then SIGKILL after `grace`); its exit is not a death check() reports."""
        child = next(child for child in self.children if child.name == name)
        self.children.remove(child)
        child.stop(grace)
        self.workers.pop(name, None)
        self.say(f"{name} (pid {child.process.pid}) stopped")

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker, as the OOM killer or a lost machine would: no shutdown, no clean-up."""
        child = self.workers.pop(name)
        child.process.send_signal(signal.SIGKILL)
        child.process.wait()
        # Not a death that ends the run: check() must not report it.
        self.children.remove(child)
        child.stop(0)
        self.say(f"{name} (pid {child.process.pid}) killed with SIGKILL")

    def stop_children(self) -> None:
        """Stop every child, last started first (unlike `stop_all`, leaves signal handling alone)."""
        for child in reversed(self.children):
            child.stop(STOP_GRACE_SECONDS)
        self.children.clear()
        self.workers.clear()


def _celery() -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "prefetch_ui"]
