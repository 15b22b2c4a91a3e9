"""The live stack a benchmark runs against: the ESA simulator, Celery workers and beat, as processes.

Built on the devserver's supervisor (`prefetch_ui.dev.processes`), so each part runs in its own
process group and is stopped as `make run` stops it; the parts' output goes to a log file instead
of the terminal (echoed with `echo=True`), each line stamped with the wall-clock time, so that it
can be read beside the simulator's call log.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from prefetch_ui.dev.processes import STOP_GRACE_SECONDS, Child, Stopping, Supervisor

__all__ = ["Stack"]

_LISTENING = re.compile(r"listening on (http://\S+)")
_BEAT_STARTED = re.compile(r"beat: Starting")


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

    def start_simulator(self, state: Path, *args: str, timeout: float = 20) -> str:
        """`python -m prefetch_ui.esa_sim` on a free port; returns its endpoint once it answers."""
        command = [sys.executable, "-m", "prefetch_ui.esa_sim", "--port", "0", "--state", str(state), *args]
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
