"""Serve the simulator over HTTP: `python -m prefetch_ui.esa_sim --port 9910 --state PATH`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from prefetch_ui.esa import EsaClient

from .actions import Limits, Quotas
from .app import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, EsaSimulator, SimConfig
from .demo import seed_demo

__all__ = ["SimServer", "build_parser", "main", "serve_in_thread"]

logger = logging.getLogger("prefetch_ui.esa_sim")


class SimServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # ESA's gateway does not turn connections away. socketserver's backlog of 5 did, when a hold's
    # workers connected at once: a dropped SYN is sent again a second later, so that call arrived a
    # second late, bunched with the next second's calls, and was answered TooManyRequests although
    # the call budget had kept to the limit.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m prefetch_ui.esa_sim",
        description=(
            "A local Alibaba Cloud ESA OpenAPI (2024-09-10) simulator for scheduled prefetch: point the "
            "official SDK, the aliyun CLI, Terraform or a script at http://HOST:PORT/. It accepts the key "
            "pair in ESA_ACCESS_KEY_ID / ESA_ACCESS_KEY_SECRET (default: the demo pair "
            f"{DEMO_ACCESS_KEY_ID} / {DEMO_ACCESS_KEY_SECRET})."
        ),
        epilog="Besides ESA's actions on /, it serves GET /_sim/health and GET /_sim/calls[?action=NAME].",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument(
        "--port", type=int, default=9910, help="port to listen on; 0: any free port (default %(default)s)"
    )
    parser.add_argument(
        "--state",
        default="var/esa-sim.sqlite3",
        help="SQLite file that keeps the state across restarts (default %(default)s)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second; 60: a minute a second (default %(default)s)",
    )
    parser.add_argument(
        "--max-qps",
        type=int,
        default=0,
        help="answer 400 TooManyRequests (with x-acs-retry-after) above this many requests a second (0: off)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="share (0 to 1) of requests answered 503 ServiceUnavailable before anything is done",
    )
    parser.add_argument(
        "--ambiguous-fault-rate",
        type=float,
        default=0.0,
        help="share (0 to 1) of requests that are processed, then answered 500 InternalError",
    )
    parser.add_argument(
        "--ambiguous-fault-actions",
        default="",
        metavar="ACTION,ACTION",
        help="comma-separated actions the ambiguous faults hit (empty: all)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="delay before every answer, in milliseconds (default %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the fault injection, for repeatable runs (none: random)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="add the demo estate (jobs and plans in every state) when the simulator has no job yet",
    )
    parser.add_argument(
        "--deny-site",
        type=int,
        action="append",
        default=[],
        metavar="SITE_ID",
        help="answer 403 InvalidUid.PermissionDenied to every call about this site (repeatable)",
    )
    parser.add_argument(
        "--site-status",
        type=_site_status,
        action="append",
        default=[],
        metavar="SITE_ID=STATUS",
        help="set a site's status at start-up, e.g. 190007158391808=offline; plans run only on active sites",
    )
    # What ESA does not publish (docs/esa-api.md#unknown).
    defaults = Limits()
    parser.add_argument(
        "--max-jobs-per-site",
        type=int,
        default=defaults.max_jobs_per_site,
        help="jobs a site may hold; one more is refused InvalidJob.JobCountOfSiteFull (default %(default)s)",
    )
    parser.add_argument(
        "--max-urls-per-job",
        type=int,
        default=defaults.max_urls_per_job,
        help="URLs a job keeps; the rest are reported as quota excess in its ErrorInfo (default %(default)s)",
    )
    parser.add_argument(
        "--max-plans-per-job",
        type=int,
        default=defaults.max_plans_per_job,
        help="plans a job may have; more are failed plans in CreateScheduledPreloadExecutions' answer "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--max-interval",
        type=int,
        default=defaults.max_interval,
        help="largest Interval of a plan, in seconds; the smallest is 1 (default %(default)s)",
    )
    parser.add_argument(
        "--max-slice-len",
        type=int,
        default=defaults.max_slice_len,
        help="largest SliceLen of a plan, in URLs a batch; the smallest is 1 (default %(default)s)",
    )
    quotas = Quotas()
    parser.add_argument(
        "--preload-quota",
        type=int,
        default=quotas.preload_per_day,
        help="prefetch quota of every site, in valid URLs a day; a batch past it is refused and its job's "
        "ErrorInfo reports QuotaExcess (default %(default)s)",
    )
    parser.add_argument(
        "--site-preload-quota",
        type=_site_number,
        action="append",
        default=[],
        metavar="SITE_ID=URLS",
        help="one site's prefetch quota a day, instead of --preload-quota (repeatable)",
    )
    parser.add_argument(
        "--quota-time-zone",
        default=quotas.time_zone,
        help="the time zone whose midnight renews the prefetch quota (default %(default)s)",
    )
    parser.add_argument(
        "--purge-quota",
        type=int,
        default=quotas.purge_per_day,
        help="the daily purge quota GetPurgeQuota reports for every type (default %(default)s)",
    )
    parser.add_argument(
        "--purge-quota-30-day",
        type=int,
        default=quotas.purge_per_30_days,
        help="the 30-day purge quota GetPurgeQuota reports; 0: not configured (default %(default)s)",
    )
    return parser


def _site_number(value: str) -> tuple[int, int]:
    site_id, sep, number = value.partition("=")
    if not sep or not site_id.strip().isdigit() or not number.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected SITE_ID=NUMBER, got {value!r}")
    return int(site_id), int(number)


def _site_status(value: str) -> tuple[int, str]:
    site_id, sep, status = value.partition("=")
    if not sep or not site_id.strip().isdigit() or not status.strip():
        raise argparse.ArgumentTypeError(f"expected SITE_ID=STATUS, got {value!r}")
    return int(site_id), status.strip()


def config_from_args(args: argparse.Namespace) -> SimConfig:
    for name in ("fault_rate", "ambiguous_fault_rate"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise SystemExit(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.speed <= 0:
        raise SystemExit("--speed must be positive")
    try:
        ZoneInfo(args.quota_time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemExit(f"--quota-time-zone: unknown time zone {args.quota_time_zone!r}") from None
    key_id = os.environ.get("ESA_ACCESS_KEY_ID") or DEMO_ACCESS_KEY_ID
    secret = os.environ.get("ESA_ACCESS_KEY_SECRET") or DEMO_ACCESS_KEY_SECRET
    return SimConfig(
        state_path=args.state,
        access_keys={key_id: secret},
        speed=args.speed,
        max_qps=args.max_qps,
        fault_rate=args.fault_rate,
        ambiguous_fault_rate=args.ambiguous_fault_rate,
        ambiguous_fault_actions=frozenset(filter(None, args.ambiguous_fault_actions.split(","))),
        latency_ms=args.latency_ms,
        seed=args.seed,
        denied_sites=frozenset(args.deny_site),
        site_statuses=dict(args.site_status),
        limits=Limits(
            max_jobs_per_site=args.max_jobs_per_site,
            max_urls_per_job=args.max_urls_per_job,
            max_plans_per_job=args.max_plans_per_job,
            max_interval=args.max_interval,
            max_slice_len=args.max_slice_len,
        ),
        quotas=Quotas(
            preload_per_day=args.preload_quota,
            preload_per_site=dict(args.site_preload_quota),
            time_zone=args.quota_time_zone,
            purge_per_day=args.purge_quota,
            purge_per_30_days=args.purge_quota_30_day,
        ),
    )


def _seed_demo(simulator: EsaSimulator, config: SimConfig) -> None:
    """The demo estate, created through the simulator's own gateway (signed like any client's call)."""
    key_id, secret = next(iter(config.access_keys.items()))
    transport = httpx.WSGITransport(app=simulator)
    with EsaClient(
        endpoint="http://esa-sim.local", access_key_id=key_id, access_key_secret=secret, transport=transport
    ) as client:
        seed_demo(client)


def serve_in_thread(simulator: EsaSimulator, host: str = "127.0.0.1", port: int = 0) -> tuple[SimServer, str]:
    """Start serving on a background thread; returns the server and its base URL."""
    server = make_server(host, port, simulator, server_class=SimServer, handler_class=_QuietHandler)
    # shutdown() waits for serve_forever to look at its flag, which it does once per poll_interval
    # (0.5 s by default): half a second at the end of every test that serves a simulator.
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="esa-sim", daemon=True
    ).start()
    return server, f"http://{host}:{server.server_port}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s esa-sim %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # --demo's own calls: one line each otherwise
    config = config_from_args(args)
    simulator = EsaSimulator(config)
    if args.demo:
        _seed_demo(simulator, config)
    server = make_server(args.host, args.port, simulator, server_class=SimServer, handler_class=_QuietHandler)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    key_id = next(iter(config.access_keys))
    print(
        f"ESA simulator listening on http://{args.host}:{server.server_port} "
        f"(state {config.state_path}, speed {config.speed}x, AccessKey id {key_id})",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
        simulator.close()
    print("ESA simulator stopped", file=sys.stderr, flush=True)
    return 0
