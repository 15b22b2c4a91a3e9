"""ESA's limits are told before a refusal (docs/notifications.md): a quota that runs out today at
this schedule and a quota used up, once per site and quota day; a site paused in ESA, once per
pause, and its resume. A webhook receives `quota.runs_out` verified by the Standard Webhooks library,
and a pause made on the simulator reaches the scan through the sync."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from prefetch_ui.esa import PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID, SimConfig
from prefetch_ui.esa_sim.backend import Quotas
from prefetch_ui.esa_sim.testing import running_simulator
from prefetch_ui.notifications.messages import message_text
from prefetch_ui.notifications.models import ChannelKind, Delivery, DeliveryStatus, Event, EventKind
from prefetch_ui.notifications.services.channels import channel_create
from prefetch_ui.notifications.services.limits_scan import limits_scan
from prefetch_ui.notifications.services.outbox import channel_deliveries_send
from prefetch_ui.notifications.services.scan import notifications_scan
from prefetch_ui.prefetch.models import Site, SiteLimits
from prefetch_ui.prefetch.services.sync import esa_sync
from tests.factories import JobFactory, PlanFactory, SiteFactory
from tests.notifications.receivers import standard_webhooks_receiver

# 09:00 in Shanghai, the quota's zone and the display zone: the quota day began at 16:00 UTC before.
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
DAY_START = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _zones(settings: Settings) -> None:
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = "Asia/Shanghai"
    settings.PREFETCH_DISPLAY_TIME_ZONE = "Asia/Shanghai"
    settings.PREFETCH_NOTIFY_JOBS_SCAN_PERIOD = 0
    # No worker runs here: the queues' events are other tests' (they would be told after this long).
    settings.PREFETCH_NOTIFY_NO_WORKER_SECONDS = 10**9


def _site(*, quota: int | None = 1_000, used: int = 0, paused: bool | None = False) -> Site:
    site = SiteFactory.create(status="active", esa_id=7, name="site7.example")
    SiteLimits.objects.create(
        site=site,
        preload_quota=quota,
        paused=paused,
        read_at=NOW - timedelta(minutes=5),
        quota_day=date(2026, 12, 7),
        preload_used=used,
        counted_since=DAY_START,
    )
    return site


def _plan(site: Site, *, urls: int, start: datetime) -> None:
    """A job of `urls` URLs, sent 100 a minute from `start`."""
    job = JobFactory.create(site=site, url_count=urls, url_submitted=0)
    PlanFactory.create(
        job=job, start_time=start, end_time=start + timedelta(hours=10), interval=60, slice_len=100
    )


LIMITS_KINDS = (
    EventKind.QUOTA_RUNS_OUT,
    EventKind.QUOTA_USED_UP,
    EventKind.SITE_PAUSED,
    EventKind.SITE_RESUMED,
)


def _limits_events() -> QuerySet[Event]:
    """The limits' events (the jobs' scan tells of these jobs too: not this file's business)."""
    return Event.objects.filter(kind__in=LIMITS_KINDS).order_by("id")


def _scan(now: datetime | None = None) -> int:
    """Scan; how many limits' events were new."""
    before = _limits_events().count()
    notifications_scan(now=now)
    return _limits_events().count() - before


def _events() -> list[tuple[str, str]]:
    return list(_limits_events().values_list("kind", "key"))


@pytest.mark.django_db
def test_a_quota_that_runs_out_today_is_told_once_that_day_with_when_and_what_is_refused() -> None:
    site = _site(quota=1_000, used=400)
    _plan(site, urls=2_000, start=NOW + timedelta(minutes=10))  # 100 a minute from 09:10
    assert _scan(now=NOW) == 1
    (event,) = _limits_events()
    assert (event.kind, event.key, event.site) == (
        EventKind.QUOTA_RUNS_OUT,
        "site:7:quota:2026-12-07:runs_out",
        site,
    )
    # 600 left: the batches of 09:10 to 09:15 pass, the one of 09:16 is the first refused.
    assert event.title == (
        "The prefetch quota of site7.example runs out today at 2026-12-07 09:16:00 +08:00: "
        "1,400 URL(s) will be refused"
    )
    assert event.data == {
        "site": "site7.example",
        "site_id": 7,
        "quota_day": "2026-12-07",
        "quota": 1_000,
        "used": 400,
        "used_counted_whole_day": True,
        "left": 600,
        "refused_urls": 1_400,
        "runs_out_at": "2026-12-07T01:16:00Z",
        "runs_out_at_local": "2026-12-07 09:16:00 +08:00",
        "renews_at": "2026-12-07T16:00:00Z",
        "renews_at_local": "2026-12-08 00:00:00 +08:00",
        "display_zone": "Asia/Shanghai",
        "path": "/sites/7/limits/",
    }
    # Not again on the next scan, nor when the forecast worsens the same day (once a day).
    assert _scan(now=NOW + timedelta(minutes=1)) == 0
    _plan(site, urls=5_000, start=NOW + timedelta(minutes=5))
    assert _scan(now=NOW + timedelta(minutes=2)) == 0
    # The next quota day is another day's news.
    tomorrow = NOW + timedelta(days=1)
    _plan(site, urls=3_000, start=tomorrow + timedelta(minutes=10))
    assert _scan(now=tomorrow) == 1
    assert _events()[-1] == (EventKind.QUOTA_RUNS_OUT, "site:7:quota:2026-12-08:runs_out")


@pytest.mark.django_db
def test_a_schedule_within_the_quota_and_an_unknown_quota_tell_nothing() -> None:
    site = _site(quota=10_000, used=3_000)
    _plan(site, urls=3_000, start=NOW + timedelta(minutes=1))
    other = SiteFactory.create(status="active", esa_id=8, name="site8.example")
    SiteLimits.objects.create(site=other, preload_quota=None, paused=None)
    _plan(other, urls=3_000, start=NOW + timedelta(minutes=1))
    assert _scan(now=NOW) == 0


@pytest.mark.django_db
def test_a_quota_used_up_is_told_once_that_day_and_not_as_running_out() -> None:
    site = _site(quota=1_000, used=1_000)
    _plan(site, urls=500, start=NOW + timedelta(minutes=30))
    assert _scan(now=NOW) == 1
    assert _scan(now=NOW + timedelta(minutes=1)) == 0
    (event,) = _limits_events()
    assert (event.kind, event.key) == (EventKind.QUOTA_USED_UP, "site:7:quota:2026-12-07:used_up")
    assert event.title == "The prefetch quota of site7.example is used up today: 1,000 of 1,000 URLs"
    assert (event.data["used"], event.data["left"], event.data["refused_urls"]) == (1_000, 0, 500)
    assert event.data["runs_out_at"] == "2026-12-07T01:30:00Z"


@pytest.mark.django_db
def test_a_quota_running_out_then_used_up_is_told_both() -> None:
    site = _site(quota=1_000, used=400)
    _plan(site, urls=2_000, start=NOW + timedelta(minutes=10))
    assert _scan(now=NOW) == 1
    SiteLimits.objects.filter(site=site).update(preload_used=1_000)
    assert _scan(now=NOW + timedelta(minutes=20)) == 1
    assert [kind for kind, _ in _events()] == [EventKind.QUOTA_RUNS_OUT, EventKind.QUOTA_USED_UP]


@pytest.mark.django_db
def test_a_site_paused_resumed_and_paused_again_is_told_each_time() -> None:
    site = _site(paused=None)
    assert _scan(now=NOW) == 0  # not read yet: neither paused nor resumed
    SiteLimits.objects.filter(site=site).update(paused=True, read_at=NOW)
    assert _scan(now=NOW + timedelta(minutes=1)) == 1
    assert _scan(now=NOW + timedelta(minutes=2)) == 0
    (paused,) = _limits_events()
    assert (paused.kind, paused.key) == (EventKind.SITE_PAUSED, f"site:7:paused:{int(NOW.timestamp())}")
    assert paused.title == "Site site7.example is paused in ESA: its plans do not run"
    assert paused.data["paused_since"] == "2026-12-07T01:00:00Z"
    assert paused.data["paused_since_local"] == "2026-12-07 09:00:00 +08:00"
    assert paused.data["path"] == "/sites/7/limits/"

    SiteLimits.objects.filter(site=site).update(paused=False, read_at=NOW + timedelta(minutes=3))
    assert _scan(now=NOW + timedelta(minutes=3)) == 1
    assert _scan(now=NOW + timedelta(minutes=4)) == 0
    resumed = _limits_events().last()
    assert resumed is not None and resumed.kind == EventKind.SITE_RESUMED
    assert resumed.data["paused_since"] == "2026-12-07T01:00:00Z"

    again = NOW + timedelta(minutes=5)
    SiteLimits.objects.filter(site=site).update(paused=True, read_at=again)
    assert _scan(now=again) == 1
    assert _scan(now=again + timedelta(minutes=1)) == 0
    assert _events() == [
        (EventKind.SITE_PAUSED, f"site:7:paused:{int(NOW.timestamp())}"),
        (EventKind.SITE_RESUMED, f"site:7:resumed:{int(NOW.timestamp())}"),
        (EventKind.SITE_PAUSED, f"site:7:paused:{int(again.timestamp())}"),
    ]


@pytest.mark.django_db
def test_the_limits_are_read_on_the_jobs_scan_period(settings: Settings) -> None:
    settings.PREFETCH_NOTIFY_JOBS_SCAN_PERIOD = 60
    site = _site(paused=False)
    assert _scan(now=NOW) == 0
    SiteLimits.objects.filter(site=site).update(paused=True)
    assert _scan(now=NOW + timedelta(seconds=30)) == 0  # not due yet
    assert _scan(now=NOW + timedelta(seconds=61)) == 1


@pytest.mark.django_db
def test_the_limits_scan_reads_every_site_in_as_many_queries_as_one() -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            limits_scan(now=NOW)
        return len(captured)

    site = _site(quota=10_000)
    _plan(site, urls=100, start=NOW + timedelta(minutes=1))
    queries()  # the first scan makes its cursor
    one = queries()
    for esa_id in (11, 12, 13):
        other = SiteFactory.create(status="active", esa_id=esa_id, name=f"site{esa_id}.example")
        SiteLimits.objects.create(site=other, preload_quota=10_000, paused=False, read_at=NOW)
        _plan(other, urls=100, start=NOW + timedelta(minutes=1))
    assert queries() == one


@pytest.mark.django_db
def test_a_quota_running_out_reaches_a_webhook_verified_by_its_library(operator: User) -> None:
    site = _site(quota=1_000, used=400)
    _plan(site, urls=2_000, start=NOW + timedelta(minutes=10))
    secrets: list[str] = []
    with standard_webhooks_receiver(secrets) as (url, received):
        channel, secret = channel_create(
            user=operator,
            name="hook",
            kind=ChannelKind.WEBHOOK,
            url=url,
            events=[EventKind.QUOTA_RUNS_OUT, EventKind.SITE_PAUSED],
            sites=[site],
        )
        secrets.append(secret)
        assert _scan(now=NOW) == 1
        assert channel_deliveries_send(channel_id=channel.pk) == 1
    (got,) = received.accepted
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert got["payload"] == delivery.payload
    assert got["payload"]["type"] == "quota.runs_out"
    data = got["payload"]["data"]
    assert (data["runs_out_at"], data["refused_urls"], data["left"]) == ("2026-12-07T01:16:00Z", 1_400, 600)
    assert data["url"] == "/sites/7/limits/"
    text = message_text(got["payload"])
    assert "Runs out at: 2026-12-07 09:16:00 +08:00" in text
    assert "URLs that will be refused: 1400" in text
    assert "Quota (URLs a day): 1000\nUsed today: 400\nLeft today: 600" in text


@pytest.mark.django_db(transaction=True)
def test_a_pause_and_a_short_quota_on_the_simulator_are_told_after_the_sync(
    tmp_path: Path, settings: Settings
) -> None:
    now = datetime.now(UTC)
    # A quota zone (the simulator's and the dashboard's) where it is about noon: the plan's ten
    # minutes stay in one quota day whenever the test runs.
    hours = 12 - now.hour
    zone = f"Etc/GMT{-hours:+d}" if hours else "UTC"
    settings.PREFETCH_ESA_QUOTA_TIME_ZONE = zone
    quotas = Quotas(preload_per_site={DEMO_SITE_ID: 100}, time_zone=zone)
    config = SimConfig(state_path=tmp_path / "s.sqlite3", quotas=quotas)
    with running_simulator(config) as sim, sim.client() as client:
        esa_job = client.create_scheduled_preload_job(
            site_id=DEMO_SITE_ID, name="big", urls=[f"https://example.com/{n}.js" for n in range(1_000)]
        )
        # 100 URLs a minute from two minutes on: the second batch finds the 100 a day used.
        client.create_scheduled_preload_executions(
            esa_job.id, [PlanSpec(now + timedelta(minutes=2), now + timedelta(minutes=11), 60, 100)]
        )
        esa_sync(client=client)
        assert _scan() == 1
        (runs_out,) = _limits_events()
        assert runs_out.kind == EventKind.QUOTA_RUNS_OUT
        assert (runs_out.data["quota"], runs_out.data["refused_urls"]) == (100, 900)

        client.update_site_pause(site_id=DEMO_SITE_ID, paused=True)  # as an operator in ESA's console
        SiteLimits.objects.update(read_at=None)  # the next sync reads the limits again
        esa_sync(client=client)
        assert _scan() == 1
        assert _scan() == 0
    assert [kind for kind, _ in _events()] == [EventKind.QUOTA_RUNS_OUT, EventKind.SITE_PAUSED]
