"""/metrics: what it says after real work, who may read it, and recording when Redis is away."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.test import Client
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families
from pytest_django import Settings

from prefetch_ui.core.metrics import KEY_PREFIX, SYNC_LAST_SUCCESS_KEY, MetricsRecorder
from prefetch_ui.esa import EsaClient, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.prefetch.models import Operation, Plan
from prefetch_ui.prefetch.tasks import esa_sync_task
from tests.polling import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

TOKEN = "scrape-token-0f8e2a9c41d7"


@pytest.fixture
def clean_metrics(broker: str) -> Iterator[redis.Redis]:
    """The session's Redis without the metrics other tests recorded."""
    connection = redis.Redis.from_url(broker)
    for key in [*connection.scan_iter(match=f"{KEY_PREFIX}*"), SYNC_LAST_SUCCESS_KEY]:
        connection.delete(key)
    yield connection
    connection.close()


def scrape(client: Client, **meta: Any) -> Samples:
    response = client.get(reverse("metrics"), **meta)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain;")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def of_family(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: number for (sample, labels), number in samples.items() if sample == name}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker", "clean_metrics")
def test_metrics_after_a_stop(esa: EsaClient, operator_client: Client) -> None:
    job = esa.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="Homepage", urls=[f"https://example.com/{index}" for index in range(300)]
    )
    start = datetime.now(UTC).replace(microsecond=0)
    (plan,) = esa.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start + timedelta(hours=1), 60, 5)]
    ).succeeded
    esa_sync_task.delay()
    eventually(lambda: Plan.objects.filter(esa_id=plan.id, status="running").exists())
    operator_client.post(reverse("plan-action", args=[plan.id, "stop"]), HTTP_HX_REQUEST="true")
    eventually(lambda: Operation.objects.filter(status="succeeded").exists())

    # The sync goes on after the plan shows (it reads the sites' limits last): scrape once it is done,
    # so that no call of it is between the budget and its count. A scraper has no session: loopback
    # is allowed by default.
    samples = eventually(
        lambda: (
            found
            if (found := scrape(Client())).get(
                ("prefetch_sync_duration_seconds_count", frozenset({("result", "ok")}))
            )
            else None
        ),
        failure="the sync never finished",
    )

    assert value(samples, "prefetch_metrics_source_up", source="database") == 1
    assert value(samples, "prefetch_metrics_source_up", source="redis") == 1
    # Operations, counted in the database: every kind and result is there, at zero if need be.
    assert value(samples, "prefetch_operations_total", kind="plan_stop", result="succeeded") == 1
    assert value(samples, "prefetch_operations_total", kind="plan_stop", result="failed") == 0
    assert value(samples, "prefetch_operations_total", kind="job_delete", result="succeeded") == 0
    assert set(of_family(samples, "prefetch_operations_unfinished").values()) == {0}
    assert value(samples, "prefetch_holds_active") == 0
    # ESA calls, recorded in Redis by the worker that made them.
    stop = "StopScheduledPreloadExecution"
    assert value(samples, "prefetch_esa_calls_total", action=stop, code="OK", caller="routine") == 1
    assert value(samples, "prefetch_esa_calls_total", action="ListSites", code="OK", caller="routine") >= 1
    assert value(samples, "prefetch_esa_call_duration_seconds_count", action=stop) == 1
    assert value(samples, "prefetch_esa_call_duration_seconds_bucket", action=stop, le="+Inf") == 1
    assert value(samples, "prefetch_esa_call_duration_seconds_sum", action=stop) > 0
    # Every request the worker sent went through the budget first.
    calls = sum(of_family(samples, "prefetch_esa_calls_total").values())
    assert value(samples, "prefetch_esa_budget_wait_seconds_count") == calls
    # The sync that filled the mirror.
    assert value(samples, "prefetch_sync_duration_seconds_count", result="ok") == 1
    assert 0 <= value(samples, "prefetch_sync_lag_seconds") < 60
    assert value(samples, "prefetch_sync_last_success_timestamp_seconds") > start.timestamp() - 1
    assert set(of_family(samples, "prefetch_workers_alive")) >= {
        frozenset({("queue", "celery")}),
        frozenset({("queue", "incidents")}),
    }


@pytest.mark.usefixtures("clean_metrics")
def test_histograms_are_cumulative_across_recorders(broker: str, client: Client, db: None) -> None:
    # Two recorders stand for two processes: Redis adds their observations up.
    MetricsRecorder(broker).esa_call("ListSites", "OK", 0.005)
    MetricsRecorder(broker).esa_call("ListSites", "OK", 0.3)
    MetricsRecorder(broker).esa_call("ListSites", "Throttling.User", 100, caller="incident")

    samples = scrape(client)

    ok, throttled = (
        {"action": "ListSites", "code": "OK", "caller": "routine"},
        {"action": "ListSites", "code": "Throttling.User", "caller": "incident"},
    )
    assert value(samples, "prefetch_esa_calls_total", **ok) == 2
    assert value(samples, "prefetch_esa_calls_total", **throttled) == 1
    buckets = {
        dict(labels)["le"]: number
        for labels, number in of_family(samples, "prefetch_esa_call_duration_seconds_bucket").items()
    }
    assert (buckets["0.01"], buckets["0.25"], buckets["0.5"], buckets["30.0"], buckets["+Inf"]) == (
        1,
        1,
        2,
        2,
        3,
    )
    assert value(samples, "prefetch_esa_call_duration_seconds_count", action="ListSites") == 3
    assert value(samples, "prefetch_esa_call_duration_seconds_sum", action="ListSites") == pytest.approx(
        100.305
    )


def test_a_scrape_while_redis_is_down_still_counts_operations(
    client: Client, settings: Settings, db: None, closed_port: int
) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"

    samples = scrape(client)

    assert value(samples, "prefetch_metrics_source_up", source="redis") == 0
    assert value(samples, "prefetch_metrics_source_up", source="database") == 1
    assert value(samples, "prefetch_operations_total", kind="plan_stop", result="succeeded") == 0
    assert not of_family(samples, "prefetch_esa_calls_total")


def test_recording_while_redis_is_down_never_raises_and_says_so_once(
    caplog: pytest.LogCaptureFixture, closed_port: int
) -> None:
    recorder = MetricsRecorder(f"redis://127.0.0.1:{closed_port}/0")
    with caplog.at_level(logging.WARNING, logger="prefetch_ui.core.metrics"):
        for _ in range(50):
            recorder.esa_call("ListSites", "OK", 0.01)
            recorder.budget_wait(0.0)
        recorder.sync_finished(seconds=1.0, ok=True)
    assert len(caplog.records) == 1
    assert "not recording until it answers" in caplog.records[0].getMessage()


# -- who may scrape ---------------------------------------------------------------------------------


@pytest.fixture
def token_only(settings: Settings) -> None:
    settings.PREFETCH_METRICS_TOKEN = TOKEN
    settings.PREFETCH_METRICS_ALLOWED_NETWORKS = []


@pytest.mark.usefixtures("token_only")
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", f"Bearer {TOKEN}x", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}"],
)
def test_without_the_token_no_metrics(client: Client, authorization: str | None) -> None:
    meta: dict[str, Any] = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get(reverse("metrics"), **meta)
    assert response.status_code == 403
    assert b"prefetch_" not in response.content


@pytest.mark.usefixtures("token_only")
def test_the_token_lets_a_scraper_in_from_anywhere(client: Client, db: None) -> None:
    samples = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="198.51.100.7")
    assert ("prefetch_holds_active", frozenset()) in samples


@pytest.mark.parametrize(
    ("remote_addr", "allowed"),
    [
        ("10.1.2.3", True),
        ("::ffff:10.1.2.3", True),
        ("fd00::5", True),
        ("192.0.2.1", False),
        ("127.0.0.1", False),
    ],
)
def test_allowed_networks(
    client: Client, settings: Settings, db: None, remote_addr: str, allowed: bool
) -> None:
    settings.PREFETCH_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "fd00::/8"]
    response = client.get(reverse("metrics"), REMOTE_ADDR=remote_addr)
    assert response.status_code == (200 if allowed else 403)


def test_loopback_may_scrape_by_default_but_not_through_a_proxy(client: Client, db: None) -> None:
    assert client.get(reverse("metrics")).status_code == 200
    # A reverse proxy on this machine would make every visitor look local.
    proxied = client.get(reverse("metrics"), HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.status_code == 403
