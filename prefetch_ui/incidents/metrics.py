"""What /metrics counts in incidents' rows at each scrape (registered with core's collector in apps.py)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from .models import HOLD_ACTIVE_STATUSES, Incident


def incidents_database_metrics() -> Iterator[Metric]:
    """The `prefetch_holds_active` gauge, read now."""
    active_holds = Incident.objects.filter(status__in=HOLD_ACTIVE_STATUSES).count()
    yield GaugeMetricFamily(
        "prefetch_holds_active",
        "Incidents whose hold is active (holding or held): prefetch on their sites is held.",
        value=active_holds,
    )
