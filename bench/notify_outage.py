"""Prove that notifications survive their endpoint being down: every delivery arrives once it is
back, each once, in order, signed.

    .venv/bin/python -m bench.notify_outage [--events 30] [--outage 60] [--verbose]

The stack is the product's as `make run` starts it (bench/stack.py): an embedded Redis, one Celery
worker (its thread pool, both queues), beat (the notification scan and the outbox's sweep at their
default periods, the sync too) and the ESA simulator, on a throwaway SQLite database with
production settings (retries at the defaults: 10 s, doubling up to an hour). A Standard Webhooks
channel points at a port where nothing listens (connections refused); `--events` events are
recorded through the outbox's service, one a second, each committed and handed to the worker as an
action would; after `--outage` seconds (60) a receiver starts on that port, verifying every
signature with the `standardwebhooks` library. The run waits until every delivery is delivered.

Goals: every event received exactly once (by `webhook-id`), in the order recorded, each signature
verified; no delivery given up; the last delivery within the longest retry wait the outage can
cause (the backoff step that straddles its end) plus a minute of the machine's slack after the
endpoint is back. Exit status: 1 when a goal is missed, 2 when the harness could not run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bench.report import goals_verdict, load_line, machine_line
from bench.stack import Stack, production_settings
from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import Stopping

REPO_DIR = Path(__file__).resolve().parent.parent
SLACK_SECONDS = 60.0
WAIT_LIMIT_SECONDS = 900.0


@contextmanager
def _receiver(port: int, secret: str, arrived: list[dict[str, Any]], refused: list[str]) -> Iterator[None]:
    verifier = Webhook(secret)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                payload = verifier.verify(body, dict(self.headers.items()))
            except WebhookVerificationError as error:
                with lock:
                    refused.append(str(error))
                self.send_response(401)
                self.end_headers()
                return
            with lock:
                arrived.append({"id": self.headers["webhook-id"], "payload": payload, "at": time.time()})
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _longest_wait(outage: float) -> float:
    """The backoff wait that straddles the end of the outage, at the product's settings."""
    from django.conf import settings

    from prefetch_ui.notifications.services.outbox import retry_delay

    waited, attempt = 0.0, 1
    while waited <= outage:
        step = retry_delay(attempt).total_seconds()
        waited += step
        attempt += 1
    return step + settings.PREFETCH_NOTIFY_SWEEP_PERIOD


def run(*, events: int, outage: float, run_dir: Path, echo: bool) -> list[str]:
    from django.db import transaction

    from prefetch_ui.notifications.models import ChannelKind, Delivery, DeliveryStatus, EventKind
    from prefetch_ui.notifications.services.channels import channel_create
    from prefetch_ui.notifications.services.outbox import event_record

    run_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    channel, secret = channel_create(
        user=None,
        name="bench",
        kind=ChannelKind.WEBHOOK,
        url=f"http://127.0.0.1:{port}/hooks",
        events=[EventKind.PLAN_FAILED],
        sites=[],
    )
    arrived: list[dict[str, Any]] = []
    refused: list[str] = []
    misses: list[str] = []
    with (run_dir / "processes.log").open("w", encoding="utf-8") as log:
        stack = Stack(cwd=REPO_DIR, log=log, echo=echo)
        try:
            # The worker and beat read ESA's address when they start: the sync runs all along.
            os.environ["ESA_ENDPOINT"] = stack.start_simulator(run_dir / "esa-state.json")
            stack.start_worker("worker")
            stack.start_beat(run_dir / "beat-schedule")
            down_at = time.time()
            for index in range(events):
                with transaction.atomic():
                    event_record(
                        key=f"bench:{down_at:.0f}:{index}",
                        kind=EventKind.PLAN_FAILED,
                        title=f"bench event {index:03d}",
                        data={"plan": str(index)},
                    )
                time.sleep(min(1.0, outage / max(events, 1)))
            time.sleep(max(0.0, outage - (time.time() - down_at)))
            tried = sum(Delivery.objects.filter(channel=channel).values_list("attempts", flat=True))
            back_at = time.time()
            print(
                f"endpoint down {back_at - down_at:.0f} s; {tried} attempt(s) refused meanwhile", flush=True
            )
            with _receiver(port, secret, arrived, refused):
                while time.time() - back_at < WAIT_LIMIT_SECONDS:
                    if (
                        not Delivery.objects.filter(channel=channel)
                        .exclude(status=DeliveryStatus.DELIVERED)
                        .exists()
                    ):
                        break
                    if Delivery.objects.filter(channel=channel, status=DeliveryStatus.FAILED).exists():
                        break
                    time.sleep(0.5)
            last = max((got["at"] for got in arrived), default=time.time())
        finally:
            stack.stop_children()

    after = last - back_at
    goal = _longest_wait(outage) + SLACK_SECONDS
    titles = [got["payload"]["data"]["title"] for got in arrived]
    expected = [f"bench event {index:03d}" for index in range(events)]
    print(f"all delivered {after:.1f} s after the endpoint came back (goal ≤ {goal:.0f} s)")
    if titles != expected:
        misses.append(f"received {len(titles)} of {events}, or out of order: {titles[:5]}…")
    if len({got["id"] for got in arrived}) != len(arrived):
        misses.append("a delivery arrived twice")
    if refused:
        misses.append(f"{len(refused)} signature(s) refused: {refused[:2]}")
    failed = Delivery.objects.filter(channel=channel, status=DeliveryStatus.FAILED).count()
    if failed:
        misses.append(f"{failed} deliveries given up")
    if after > goal:
        misses.append(
            f"the last delivery came {after:.0f} s after the endpoint was back (goal ≤ {goal:.0f} s)"
        )
    return misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.notify_outage", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--events", type=int, default=30, help="events recorded during the outage (30)")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the endpoint is down (60)")
    parser.add_argument("--logs", type=Path, default=REPO_DIR / "var" / "chaos" / "notify-outage")
    parser.add_argument("--verbose", action="store_true", help="echo the processes' output")
    options = parser.parse_args(argv)
    redis_port = free_port()
    with tempfile.TemporaryDirectory(prefix="prefetch-notify-") as work:
        production_settings(Path(work), redis_url=f"redis://127.0.0.1:{redis_port}/0", log_level="INFO")
        import django

        django.setup()
        logging.getLogger("prefetch_ui").setLevel(logging.WARNING)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"{machine_line()}; logs in {options.logs}/", flush=True)
        log_dir = options.logs
        log_dir.mkdir(parents=True, exist_ok=True)
        redis_log = (log_dir / "redis.log").open("w", encoding="utf-8")
        redis_stack = Stack(cwd=REPO_DIR, log=redis_log, echo=options.verbose)
        try:
            redis_stack.start_redis(redis_port, Path(work) / "redis", appendonly=False)
            misses = run(events=options.events, outage=options.outage, run_dir=log_dir, echo=options.verbose)
        except Stopping as error:
            print(f"error: {error} (see {log_dir}/processes.log)", file=sys.stderr)
            return 2
        finally:
            redis_stack.stop_children()
            redis_log.close()
    for miss in misses:
        print(f"miss: {miss}")
    print(load_line())
    print(f"notify-outage: {goals_verdict(misses)}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
