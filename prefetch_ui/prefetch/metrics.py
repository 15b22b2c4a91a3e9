"""What /metrics counts in prefetch's rows at each scrape (registered with core's collector in
apps.py): operations by kind and result, and how old each site's mirror is."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .models import ACTIVE_OPERATION_STATUSES, Operation, OperationKind, Site
from .selectors.mirror_age import site_read_at


def prefetch_database_metrics() -> Iterator[Metric]:
    """The `prefetch_operations*` and `prefetch_mirror_age_seconds` families, read now."""
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
