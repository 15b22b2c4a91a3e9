"""What `/metrics` answers: the metrics of every process, read from Redis and the database when scraped.

A prometheus_client `Collector` on a registry of our own (not the default one, which would add this
one web process's own metrics and pretend they were the deployment's). Operations and holds are
counted in the database at each scrape: their rows are the truth, so nothing is lost when Redis
was down or a worker died before recording. The rest was recorded in Redis by whichever process did
the work (`metrics.py`). A source that cannot be read is left out and said so by
`prefetch_metrics_source_up`; the other still answers.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator

import redis
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.utils import timezone
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

__all__ = ["PrefetchCollector", "metrics_exposition"]

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


def _database_families() -> Iterator[Metric]:
    from prefetch_ui.incidents.models import HOLD_ACTIVE_STATUSES, Incident
    from prefetch_ui.prefetch.models import ACTIVE_OPERATION_STATUSES, Operation, OperationKind, Site
    from prefetch_ui.prefetch.selectors.mirror_age import site_read_at

    counts: dict[tuple[str, str], int] = {
        (kind, status): count
        for kind, status, count in Operation.objects.order_by()
        .values_list("kind", "status")
        .annotate(count=Count("pk"))
    }
    finished = CounterMetricFamily(
        "prefetch_operations",
        "Operations (what operators asked of ESA) that ended, by kind and result (succeeded, failed).",
        labels=["kind", "result"],
    )
    unfinished = GaugeMetricFamily(
        "prefetch_operations_unfinished",
        "Operations not yet ended, by kind and status (pending, running).",
        labels=["kind", "status"],
    )
    for kind in OperationKind.values:
        for result in ("succeeded", "failed"):
            finished.add_metric([kind, result], counts.get((kind, result), 0))
        for status in ACTIVE_OPERATION_STATUSES:
            unfinished.add_metric([kind, status.value], counts.get((kind, status.value), 0))
    yield finished
    yield unfinished

    active_holds = Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).count()
    yield GaugeMetricFamily(
        "prefetch_holds_active",
        "Incidents whose hold is active (holding or held): prefetch on their sites is held.",
        value=active_holds,
    )

    # Read from the sites' rows, as the pages' note of it is: the sync writes each site's last read
    # there (`prefetch.services.freshness`), so a site the sync skips or fails on ages here alone.
    now = timezone.now()
    mirror_age = GaugeMetricFamily(
        "prefetch_mirror_age_seconds",
        "Seconds since the sync last read each site's jobs from ESA without an error (for a site "
        "whose jobs it never read, since its row was last written): how old its pages' data may be.",
        labels=["site_id", "site"],
    )
    sites = Site.objects.annotate(read_at=site_read_at()).order_by("esa_id")
    for esa_id, name, read_at in sites.values_list("esa_id", "name", "read_at"):
        mirror_age.add_metric([str(esa_id), name], max(0.0, (now - read_at).total_seconds()))
    yield mirror_age


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
