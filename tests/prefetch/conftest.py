"""Fixtures for the dashboard: users, the simulator as ESA, a real Redis and a real Celery worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Group, User
from pytest_django import Settings

from prefetch_ui.celery import app as celery_app
from prefetch_ui.dev.embedded_redis import redis_server
from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim.testing import RunningSimulator
from prefetch_ui.prefetch.permissions import OPERATORS_GROUP


def use_broker(url: str) -> None:
    """Point the Celery app at another broker, dropping pooled connections to the old one."""
    celery_app.conf.update(broker_url=url, result_backend=url)
    # Celery caches both pools on first use; clearing them is what its own after-fork hook does.
    vars(celery_app)["_pool"] = None
    vars(celery_app.amqp)["_producer_pool"] = None


@pytest.fixture(scope="session", autouse=True)
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Every test publishes to a real Redis, never to a fake or an eager in-process call."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        use_broker(url)
        yield url


@pytest.fixture
def switch_broker(broker: str) -> Iterator[Callable[[str], None]]:
    """Lets a test point Celery at another broker; the session's Redis is restored after."""
    yield use_broker
    use_broker(broker)


@pytest.fixture
def esa(settings: Settings, sim: RunningSimulator) -> Iterator[EsaClient]:
    """The simulator is ESA for the dashboard (settings) and for the test (this client)."""
    settings.ESA_ENDPOINT = sim.url
    settings.ESA_ACCESS_KEY_ID = sim.access_key_id
    settings.ESA_ACCESS_KEY_SECRET = sim.access_key_secret
    with sim.client() as client:
        yield client


@pytest.fixture
def celery_worker(broker: str) -> Iterator[None]:
    """A real Celery worker consuming from the real Redis, in a thread of this process."""
    with start_worker(
        celery_app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=20
    ):
        yield


@pytest.fixture
def operator(db: None) -> User:
    user = User.objects.create_user("olga", password="operator-pass-123")
    user.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    return user


@pytest.fixture
def viewer(db: None) -> User:
    return User.objects.create_user("vic", password="viewer-pass-123")
