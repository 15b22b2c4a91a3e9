"""The devserver's children: each in its own process group, its output prefixed, all stopped together.

A Ctrl-C in the terminal reaches only the supervisor (the children are in other process groups), which
stops the children in reverse order and then SIGKILLs whatever is left in each group, such as a Celery
pool process whose parent died.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["Child", "Stopping", "Supervisor", "terminate"]

STOP_GRACE_SECONDS = 10.0


def terminate(process: subprocess.Popen[Any], *, grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds; returns once it has exited.

    For a single process that starts no others (a redis-server, a devserver under test); a `Child`
    also kills what is left of its process group.
    """
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Stopping(Exception):
    """Ends the run: a stop signal, a child that died, or a start-up step that failed."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Child:
    """One supervised process in its own process group; its output is copied line by line, prefixed."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        emit: Callable[[str], None],
        ready_pattern: re.Pattern[str] | None = None,
        one_off: bool = False,
    ) -> None:
        self.name = name
        self.one_off = one_off  # expected to exit: its exit is not a death
        self.ready_pattern = ready_pattern
        self.ready_match: re.Match[str] | None = None
        self._emit = emit
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and binaries, fixed arguments
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            process_group=0,
        )
        self._copier = threading.Thread(target=self._copy_output, name=f"{name}-output", daemon=True)
        self._copier.start()

    def _copy_output(self) -> None:
        prefix = f"[{self.name}]".ljust(10)
        if self.process.stdout is None:
            return
        for line in self.process.stdout:
            text = line.rstrip("\n")
            self._emit(f"{prefix}{text}")
            if self.ready_pattern and self.ready_match is None:
                self.ready_match = self.ready_pattern.search(text)

    def exit_code(self) -> int | None:
        return self.process.poll()

    def stop(self, grace: float) -> None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL what is left of the process group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._emit(f"[devserver] {self.name} did not stop within {grace:.0f} s; killing it")
        # The group outlives its leader while any member is left (Celery's pool, say), so this
        # reaches stragglers; on an empty group it is a harmless ProcessLookupError.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._copier.join(timeout=2)


class Supervisor:
    """Starts children, watches them, and stops all of them, whatever ends the run."""

    def __init__(self, *, cwd: Path) -> None:
        self.cwd = cwd  # every child's working directory
        self.children: list[Child] = []
        self._output_lock = threading.Lock()
        self._stop_signal: str | None = None

    # -- output -------------------------------------------------------------------------------

    def emit(self, line: str) -> None:
        # Best effort: a closed terminal or pipe must not keep the children from being stopped.
        with self._output_lock, contextlib.suppress(OSError):
            print(line, flush=True)

    def say(self, message: str) -> None:
        self.emit(f"[devserver] {message}")

    # -- signals ------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only a flag: a handler runs between two bytecodes of the main thread, which may hold a lock.
        self._stop_signal = signal.Signals(signum).name

    # -- children -----------------------------------------------------------------------------

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready_pattern: re.Pattern[str] | None = None,
        one_off: bool = False,
    ) -> Child:
        child = Child(name, argv, cwd=self.cwd, emit=self.emit, ready_pattern=ready_pattern, one_off=one_off)
        self.children.append(child)
        return child

    def run_once(self, name: str, argv: Sequence[str], *, timeout: float) -> None:
        """Run a one-off command to completion, as a child (so that Ctrl-C stops it too)."""
        child = self.start(name, argv, one_off=True)
        self.wait_for(name, lambda: child.exit_code() is not None, timeout=timeout)
        self.children.remove(child)
        child.stop(0)
        if child.exit_code() != 0:
            raise Stopping(f"{name} failed with exit code {child.exit_code()}", 1)

    def check(self) -> None:
        """Raise `Stopping` if a stop signal came or a child has died."""
        if self._stop_signal is not None:
            raise Stopping(f"{self._stop_signal} received", 0)
        for child in self.children:
            code = child.exit_code()
            if code is not None and not child.one_off:
                raise Stopping(f"{child.name} exited with code {code}; stopping the rest", 1)

    def wait_for(self, what: str, ready: Callable[[], bool], *, timeout: float) -> None:
        """Poll `ready` until it holds; raise `Stopping` on a timeout, a stop signal or a dead child."""
        deadline = time.monotonic() + timeout
        while not ready():
            self.check()
            if time.monotonic() > deadline:
                raise Stopping(f"{what} was not ready after {timeout:.0f} s", 1)
            time.sleep(0.2)

    def watch(self) -> None:
        """Block until a stop signal or a child's death; raises `Stopping`."""
        while True:
            self.check()
            time.sleep(0.5)

    def stop_all(self) -> None:
        # A second Ctrl-C must not cut the clean-up short: every wait below is bounded anyway.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        for child in reversed(self.children):
            child.stop(STOP_GRACE_SECONDS)
        self.children.clear()
