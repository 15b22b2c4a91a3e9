"""Fixtures shared by the tests: the ESA simulator, a real Redis and Celery worker, PostgreSQL databases
of their own, users, Chromium.

Helpers that are plain functions live in modules of their own: `tests.polling` (`eventually`),
`tests.accounts` (who logs in, and how a browser page does), `tests.mounted_esa` (the simulator
without a socket), `tests.factories` (mirror rows: sites, jobs, plans, operations) and
`tests.databases` (which database this run is on, and its URL for a process a test starts).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from django.conf import UserSettingsHolder, settings
from django.contrib.auth.models import Group, User
from django.core.cache import caches
from django.test import Client
from playwright.sync_api import Browser, Page, sync_playwright
from psycopg import sql
from pytest_django import Settings

from prefetch_ui.celery import app as celery_app
from prefetch_ui.dev.embedded_postgres import postgres_server
from prefetch_ui.dev.embedded_redis import redis_server
from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import EsaSimulator, SimConfig
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator, running_simulator
from prefetch_ui.prefetch.models import Site
from prefetch_ui.web.htmx import POLL_ANSWERS_CACHE
from prefetch_ui.web.permissions import OPERATORS_GROUP
from tests.accounts import OPERATOR, VIEWER, Login
from tests.databases import database_url
from tests.factories import SiteFactory
from tests.mounted_esa import mounted_client, mounted_simulator
from tests.one_clock import dashboard_on_the_clock
from tests.workers import embedded_worker


def pytest_configure(config: pytest.Config) -> None:
    # Hashing a password with Django's PBKDF2 takes about a second on a small machine, and every
    # user fixture does it: the tests hash with MD5, as pretix's test settings do. Only this process
    # (and its threads: the live server, the embedded worker) uses it; the processes tests start
    # (`make run`, gunicorn, workers) load the settings afresh and hash as production does.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A job page says an operation waits for a worker after this many seconds: on a busy machine a
    # test's operation may wait that long, and the note would turn up where the test does not look
    # for it. The tests of the note set it themselves (0: at once).
    settings.PREFETCH_OPERATION_WAIT_SECONDS = 3600


# What `make test-fast` leaves out (`-m "not slow"`): tests that use these fixtures...
_SLOW_FIXTURES = frozenset({"page", "chromium", "live_server", "celery_worker", "postgres_server_url"})
# ...or live here (browser pages, `make run` and PostgreSQL processes, the compose stack)...
_SLOW_DIRECTORIES = ("browser", "deploy", "dev")
# ...or start a Celery worker of their own (node ids under tests/, or their prefixes).
_SLOW_TESTS = (
    "core/test_broker.py",
    "incidents/test_workers.py",
    "incidents/test_drainers.py::test_the_sweep_sends_none_while_drainers_are_received_but_not_started",
)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        where = item.path.relative_to(tests)
        node = f"{where.as_posix()}::{item.name}"
        if (
            _SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
            or where.parts[0] in _SLOW_DIRECTORIES
            or node.startswith(_SLOW_TESTS)
        ):
            item.add_marker(pytest.mark.slow)


# -- the ESA simulator ------------------------------------------------------------------------------


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningSimulator]:
    """A fresh ESA simulator served over HTTP on a free loopback port."""
    with running_simulator(SimConfig(state_path=tmp_path / "sim.sqlite3")) as running:
        yield running


@pytest.fixture
def esa_client(sim: RunningSimulator) -> Iterator[EsaClient]:
    """Our ESA client, pointed at `sim` with its key pair and short retry waits."""
    with sim.client() as esa:
        yield esa


@pytest.fixture
def fast_sim(tmp_path: Path) -> Iterator[RunningSimulator]:
    """A simulator at 600x: a simulated minute passes in a tenth of a real second."""
    with running_simulator(SimConfig(state_path=tmp_path / "fast.sqlite3", speed=600)) as running:
        yield running


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where a connection is refused, for as long as the test runs: bound by this
    test and never listened on, so no server (of another test process, say) can take it meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.fixture
def clock() -> ManualClock:
    """Wall-clock time for `clocked_esa_client` that moves only with `clock.forward(seconds)`."""
    return ManualClock()


@pytest.fixture
def clocked_sim(tmp_path: Path, clock: ManualClock) -> Iterator[RunningSimulator]:
    """A simulator whose timeline moves only when the test moves `clock`."""
    with running_simulator(SimConfig(state_path=tmp_path / "clocked.sqlite3"), real_time=clock) as running:
        yield running


@pytest.fixture
def clocked_esa_client(clocked_sim: RunningSimulator) -> Iterator[EsaClient]:
    """Our ESA client on `clocked_sim`."""
    with clocked_sim.client() as esa:
        yield esa


@pytest.fixture
def one_clock_sim(
    clocked_sim: RunningSimulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> RunningSimulator:
    """The simulator on the test's `clock`, with Django's clock following it (tests/one_clock.py): a
    module that names it its `sim` gives the `esa` fixture, the worker and the pages one clock, so a
    plan fires, or a window passes, only when the test moves it, however slow the workers are."""
    dashboard_on_the_clock(clock, monkeypatch)
    return clocked_sim


@pytest.fixture
def mounted_sim(tmp_path: Path) -> Iterator[EsaSimulator]:
    """A fresh simulator called in this thread, without a socket (see `tests.mounted_esa`)."""
    with mounted_simulator(SimConfig(state_path=tmp_path / "mounted.sqlite3")) as simulator:
        yield simulator


@pytest.fixture
def wsgi_esa_client(mounted_sim: EsaSimulator) -> Iterator[EsaClient]:
    """Our ESA client on `mounted_sim` through httpx's WSGI transport, for request/answer tests."""
    with mounted_client(mounted_sim) as esa:
        yield esa


@pytest.fixture
def esa(settings: Settings, sim: RunningSimulator, esa_client: EsaClient) -> EsaClient:
    """The simulator is ESA for the dashboard (settings) and for the test (this client)."""
    settings.ESA_ENDPOINT = sim.url
    settings.ESA_ACCESS_KEY_ID = sim.access_key_id
    settings.ESA_ACCESS_KEY_SECRET = sim.access_key_secret
    return esa_client


@pytest.fixture
def site(db: None) -> Site:
    """The seeded example.com as the mirror holds it after a sync, without its jobs."""
    return SiteFactory.create()


# -- Redis and Celery -------------------------------------------------------------------------------


def _use_broker(url: str) -> None:
    """Point the Celery app at another broker, dropping pooled connections to the old one."""
    celery_app.conf.update(broker_url=url, result_backend=url)
    # The ESA call budget and the worker heartbeats live there too. Set on the settings under any
    # override open now (a live server's ALLOWED_HOSTS, a test's `settings`), which would take it
    # back when it closes, leaving the rest of the session on a Redis that is not there.
    base: object = vars(settings)["_wrapped"]
    while isinstance(base, UserSettingsHolder):
        base = base.default_settings
    setattr(base, "REDIS_URL", url)  # noqa: B010  (any settings object)
    settings.REDIS_URL = url
    # Celery caches both pools on first use; clearing them is what its own after-fork hook does.
    vars(celery_app)["_pool"] = None
    vars(celery_app.amqp)["_producer_pool"] = None


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis for the whole session, and the Celery app publishing to it."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        _use_broker(url)
        yield url


# pytest-django's ways into the test database, besides the django_db marker.
_DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}
)


# kombu's exchange bindings (which queue an exchange routes to): kombu declares them once per
# connection and remembers it did, so a publish after they were deleted fails ("Cannot route message").
# They are declarations, like the database's tables: kept.
_KOMBU_BINDINGS = b"_kombu.binding."


def _uses_redis(request: pytest.FixtureRequest) -> bool:
    return bool(
        request.node.get_closest_marker("django_db")
        or _DATABASE_FIXTURES & set(request.fixturenames)
        or "broker" in request.fixturenames
    )


@pytest.fixture(autouse=True)
def _tasks_go_to_redis(request: pytest.FixtureRequest) -> None:
    """Any test that can reach the database may dispatch a Celery task (services enqueue on commit):
    it publishes to the session's real Redis, never to a fake or an eager call. Tests that cannot
    (the pure esa/, esa_sim/ and planning/ ones) start no Redis.

    Each test starts on an empty Redis, as on a rolled-back database: no message another test left in
    a queue (an operation sent on commit with no worker to run it, which a later test's worker would
    take in place of its own), no drainer registry, heartbeat or budget of another test. Runs before
    the test's other fixtures (autouse), so before any worker it starts."""
    if not _uses_redis(request):
        return
    connection = redis.Redis.from_url(request.getfixturevalue("broker"))
    try:
        left = [key for key in connection.scan_iter(count=1000) if not key.startswith(_KOMBU_BINDINGS)]
        if left:
            connection.delete(*left)
    finally:
        connection.close()


@pytest.fixture(autouse=True)
def _poll_answers_in_redis(request: pytest.FixtureRequest) -> None:
    """Poll answers drawn for every viewer (`shared_poll_answer`) are kept in the session's real
    Redis, as in production, but in a database of their own emptied before each test: one test's
    change token can be another's, since the database is rolled back and ids and versions repeat."""
    if not (request.node.get_closest_marker("django_db") or _DATABASE_FIXTURES & set(request.fixturenames)):
        return
    # The broker first: starting it sets the session's REDIS_URL, which an override of the settings
    # opened before it (the `settings` fixture's) would take back at the end of this test.
    broker = urlsplit(request.getfixturevalue("broker"))
    settings: Settings = request.getfixturevalue("settings")
    settings.CACHES = {
        **settings.CACHES,
        POLL_ANSWERS_CACHE: {
            **settings.CACHES[POLL_ANSWERS_CACHE],
            "LOCATION": broker._replace(path="/1").geturl(),
        },
    }
    caches[POLL_ANSWERS_CACHE].clear()


@pytest.fixture
def switch_broker(broker: str) -> Iterator[Callable[[str], None]]:
    """Lets a test point Celery at another broker; the session's Redis is restored after."""
    yield _use_broker
    _use_broker(broker)


@pytest.fixture
def celery_worker(broker: str) -> Iterator[None]:
    """A real Celery worker consuming from the real Redis (`tests.workers.embedded_worker`)."""
    with embedded_worker():
        yield


# -- PostgreSQL databases of a test's own ------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server on which a test may create databases, as a superuser's URL (of a database
    that is not for the tests' own use): this run's server when the run is on PostgreSQL (as in the
    second run of `make test`), else a throwaway one started for the session."""
    configured = settings.DATABASES["default"]
    if configured["ENGINE"] == "django.db.backends.postgresql":
        yield database_url(configured | {"NAME": "postgres"})
    else:
        with postgres_server() as url:
            yield url


@pytest.fixture
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test alone, as a DATABASE_URL (for processes it
    starts: `manage.py migrate`, the web server, workers); dropped afterwards, connections or not."""
    name = f"scratch_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield urlsplit(postgres_server_url)._replace(path=f"/{name}").geturl()
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


# -- people -----------------------------------------------------------------------------------------


def _user(login: Login, *groups: str) -> User:
    user = User.objects.create_user(login.username, password=login.password)
    user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in groups))
    return user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator(db: None) -> User:
    """Someone in the operators group: may start, stop, edit, create and delete."""
    return _user(OPERATOR, OPERATORS_GROUP)


@pytest.fixture
def viewer(db: None) -> User:
    """Someone in no group: may see everything and change nothing."""
    return _user(VIEWER)


@pytest.fixture
def operator_client(operator: User) -> Client:
    """Django's test client with the operator's session."""
    return _client(operator)


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    """Django's test client with the viewer's session."""
    return _client(viewer)


# -- a real browser ---------------------------------------------------------------------------------

# Debian's Chromium: Playwright cannot download its own browsers on this network.
CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium reaches for Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium driven by Playwright, for the tests of one module."""
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
        # around it are ordinary blocking calls, which Django would otherwise refuse.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A page in a browser context of its own: no cookies or storage from another test."""
    context = chromium.new_context()
    yield context.new_page()
    context.close()
