"""`make run` end to end: the dev server starts everything, serves the dashboard, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import terminate
from prefetch_ui.esa_sim import DEMO_ACCESS_KEY_SECRET
from tests.polling import eventually

REPO_DIR = Path(__file__).resolve().parents[2]
SITE_NAMES = ("example.com", "shop.example.net", "static.example.org")
BANNER_END = "Ctrl-C stops everything."


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _processes_with_env(marker: str) -> list[int]:
    """Processes whose environment holds `marker`: what the dev server started, but redis-server
    (which overwrites its own environment with its title; the port checks cover it)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue  # gone meanwhile, or not ours
    return found


class Output:
    """The dev server's output, read on a thread so that its pipe never fills up."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        if self._process.stdout is not None:
            self.lines.extend(self._process.stdout)

    def join(self) -> None:
        self._reader.join(timeout=10)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for_banner(self, timeout: float) -> str:
        def banner() -> str:
            text = self.text
            if BANNER_END in text:
                start = text.rindex("prefetch_ui is running at")
                return text[start : text.index(BANNER_END, start) + len(BANNER_END)]
            if self._process.poll() is not None:
                pytest.fail(f"the dev server exited before its banner; output:\n{text[-5000:]}")
            return ""

        return eventually(
            banner,
            timeout=timeout,
            interval=0.2,
            failure=lambda: f"no banner within {timeout:.0f} s; output:\n{self.text[-5000:]}",
        )


@pytest.fixture
def devserver(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, dict[str, int]]]:
    ports = {"web": free_port(), "redis": free_port(), "sim": free_port()}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "ESA_ENDPOINT", "DATABASE_URL", "DJANGO_SECRET_KEY", "PORT"}
    }
    env |= {
        "PREFETCH_VAR_DIR": str(tmp_path),
        "REDIS_PORT": str(ports["redis"]),
        "ESA_SIM_PORT": str(ports["sim"]),
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "prefetch_ui.dev.devserver", "--port", str(ports["web"])],
        cwd=REPO_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    try:
        yield process, output, ports
    finally:
        if process.poll() is None:
            # SIGTERM first: the dev server must get the chance to stop its children.
            terminate(process, grace=30)


def _log_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    form = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert form.status_code == 200 and token is not None
    return client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1], "next": "/"},
    )


def test_make_run_starts_everything_and_ctrl_c_stops_it_all(
    devserver: tuple[subprocess.Popen[str], Output, dict[str, int]], tmp_path: Path
) -> None:
    process, output, ports = devserver
    banner = output.wait_for_banner(timeout=90)

    assert f"http://127.0.0.1:{ports['web']}/" in banner
    assert f"redis://127.0.0.1:{ports['redis']}/0" in banner
    assert f"http://127.0.0.1:{ports['sim']}" in banner
    admin = re.search(r"admin / (\S+)", banner)
    viewer = re.search(r"viewer / (\S+)", banner)
    assert admin is not None and viewer is not None
    # State went to PREFETCH_VAR_DIR, not to the repository's var/.
    logins = tmp_path / "dev-logins.txt"
    assert (logins.stat().st_mode & 0o777) == 0o600
    assert f"admin {admin[1]}" in logins.read_text()
    assert (tmp_path / "db.sqlite3").exists() and (tmp_path / "esa-sim.sqlite3").exists()

    with httpx.Client(base_url=f"http://127.0.0.1:{ports['web']}", timeout=10) as client:
        logged_in = _log_in(client, "admin", admin[1])
        assert (logged_in.status_code, logged_in.headers["location"]) == (302, "/")

        # The worker and beat fill the mirror from the simulator within a few sync periods.
        def home_listing_every_site() -> httpx.Response | None:
            home = client.get("/")
            return home if all(name in home.text for name in SITE_NAMES) else None

        home = eventually(
            home_listing_every_site,
            timeout=30,
            interval=0.5,
            failure=lambda: f"not every site listed within 30 s:\n{client.get('/').text}",
        )
        assert home.status_code == 200
        assert all(name in home.text for name in SITE_NAMES), home.text
    with httpx.Client(base_url=f"http://127.0.0.1:{ports['web']}", timeout=10) as client:
        assert _log_in(client, "viewer", viewer[1]).status_code == 302

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    for name, port in ports.items():
        assert not _listening(port), f"{name} still listens on {port}"
    assert _processes_with_env(f"PREFETCH_VAR_DIR={tmp_path}") == []
    output.join()
    everything = output.text
    assert "all stopped" in everything
    # The sync ran and succeeded (every site got listed), and the pages were served: the routine
    # lines that say so are behind --verbose, so the banner stays in sight.
    assert not re.search(r"Task \S+\[[\w-]+\] (received|succeeded in)", everything), everything
    assert '"GET /' not in everything, everything
    for secret in (DEMO_ACCESS_KEY_SECRET, "django-insecure"):
        assert secret not in banner
        assert secret not in everything
