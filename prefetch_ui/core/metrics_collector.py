"""What `/metrics` answers: the metrics of every process, read from Redis and the database when scraped.

A prometheus_client `Collector` on a registry of our own (not the default one, which would add this
one web process's own metrics and pretend they were the deployment's). Operations and holds are
counted in the database at each scrape, by the apps that own them (`database_metrics_register`):
their rows are the truth, so nothing is lost when Redis was down or a worker died before
recording. The rest was recorded in Redis by whichever process did the work (`metrics.py`). A
source that cannot be read is left out and said so by `prefetch_metrics_source_up`; the other
still answers.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

import redis
from django.conf import settings
from django.db import DatabaseError
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from .metrics import (
    BUDGET_WAIT_SECONDS,
    ESA_CALL_SECONDS,
    ESA_CALLS,
    SYNC_LAST_SUCCESS_KEY,
    SYNC_SECONDS,
    SYNC_SKIPPED,
    Counter,
    Histogram,
)
from .workers import live_workers

__all__ = ["DatabaseMetrics", "PrefetchCollector", "database_metrics_register", "metrics_exposition"]

logger = logging.getLogger(__name__)

_HASHES: tuple[Counter | Histogram, ...] = (
    ESA_CALLS,
    ESA_CALL_SECONDS,
    BUDGET_WAIT_SECONDS,
    SYNC_SECONDS,
    SYNC_SKIPPED,
)
_REDIS_TIMEOUT_SECONDS = 2.0


class PrefetchCollector(Collector):
    """Yields the `prefetch_*` families; see the README's "Health and metrics" for what each means."""

    def collect(self) -> Iterable[Metric]:
        database_up = True
        try:
            families = list(_database_families())
        except DatabaseError as error:
            logger.warning("metrics: the database could not be read (%s)", error)
            database_up, families = False, []
        redis_up = True
        try:
            families += _redis_families()
        except redis.RedisError as error:
            logger.warning("metrics: Redis could not be read (%s)", error)
            redis_up = False
        up = GaugeMetricFamily(
            "prefetch_metrics_source_up",
            "1 when this scrape could read the source (database, redis), else 0 and its metrics are absent.",
            labels=["source"],
        )
        up.add_metric(["database"], float(database_up))
        up.add_metric(["redis"], float(redis_up))
        yield up
        yield from families


# What the apps count in their own rows at each scrape, registered by each in its AppConfig.ready()
# (`database_metrics_register`): core imports no app, and an app not installed adds nothing.
DatabaseMetrics = Callable[[], Iterable[Metric]]
_database_sources: list[DatabaseMetrics] = []


def database_metrics_register(source: DatabaseMetrics) -> None:
    """Have every scrape add the families `source` yields (read from the database: a DatabaseError
    it raises leaves every database family out, and says so in `prefetch_metrics_source_up`)."""
    if source not in _database_sources:
        _database_sources.append(source)


def _database_families() -> Iterator[Metric]:
    for source in _database_sources:
        yield from source()


def _redis_families() -> list[Metric]:
    connection = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=_REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        decode_responses=True,
    )
    try:
        pipe = connection.pipeline(transaction=False)
        for spec in _HASHES:
            pipe.hgetall(spec.key)
        pipe.get(SYNC_LAST_SUCCESS_KEY)
        *hashes, last_success = pipe.execute()
    finally:
        connection.close()
    families: list[Metric] = [
        _counter(spec, fields) if isinstance(spec, Counter) else _histogram(spec, fields)
        for spec, fields in zip(_HASHES, hashes, strict=True)
    ]

    last = GaugeMetricFamily(
        "prefetch_sync_last_success_timestamp_seconds",
        "When the last successful sync cycle ended (Unix time); absent when none is recorded.",
    )
    lag = GaugeMetricFamily(
        "prefetch_sync_lag_seconds",
        "Seconds since the last successful sync cycle ended; absent when none is recorded.",
    )
    if last_success is not None:
        last.add_metric([], float(last_success))
        lag.add_metric([], max(0.0, time.time() - float(last_success)))
    families += [last, lag]

    alive = GaugeMetricFamily(
        "prefetch_workers_alive",
        "Celery worker processes with a fresh heartbeat, by queue they consume.",
        labels=["queue"],
    )
    per_queue = {queue.name: 0 for queue in settings.CELERY_TASK_QUEUES}
    for worker in live_workers().values():
        for queue in worker.get("queues", []):
            per_queue[queue] = per_queue.get(queue, 0) + 1
    for queue, count in sorted(per_queue.items()):
        alive.add_metric([queue], count)
    families.append(alive)
    return families


def _counter(spec: Counter, fields: dict[str, str]) -> Metric:
    family = CounterMetricFamily(spec.name, spec.documentation, labels=list(spec.labels))
    for field, value in sorted(fields.items()):
        family.add_metric(json.loads(field), float(value))
    return family


def _histogram(spec: Histogram, fields: dict[str, str]) -> Metric:
    hits: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for field, value in fields.items():
        *labels, bucket = json.loads(field)
        hits[tuple(labels)][bucket] = float(value)
    family = HistogramMetricFamily(spec.name, spec.documentation, labels=list(spec.labels))
    for labels, by_bucket in sorted(hits.items()):
        cumulative = 0.0
        buckets: list[tuple[str, float]] = []
        for upper in spec.buckets:
            cumulative += by_bucket.get(f"{upper:g}", 0.0)
            buckets.append((str(float(upper)), cumulative))
        buckets.append(("+Inf", cumulative + by_bucket.get("+Inf", 0.0)))
        family.add_metric(list(labels), buckets, sum_value=by_bucket.get("sum", 0.0))
    return family


_registry = CollectorRegistry()
_registry.register(PrefetchCollector())


def metrics_exposition(accept: str) -> tuple[bytes, str]:
    """The metrics and their content type: OpenMetrics when the scraper's Accept header asks for it,
    else Prometheus's text format (prometheus_client's own negotiation)."""
    encode, content_type = choose_encoder(accept)
    return encode(_registry), content_type
