"""Which database the tests run on, and how a process a test starts gets to it.

`make test` runs the suite twice: on SQLite, then with DATABASE_URL pointing at a throwaway PostgreSQL
(`prefetch_ui.dev.embedded_postgres`). Tests do not branch on it; these helpers are for the few that
start processes of their own (a Celery worker, the web server) or need a database besides the test one
(see the `postgres_server_url` and `postgres_database_url` fixtures in conftest.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from django.db import connection


def on_postgres() -> bool:
    """Whether this run's database is PostgreSQL."""
    return connection.vendor == "postgresql"


def database_url(settings_dict: Mapping[str, Any] | None = None) -> str:
    """A DATABASE_URL for the database this process uses now: during a test, the test database.

    A worker process started with it sees what the test committed (with `transaction=True`).
    """
    settings = settings_dict if settings_dict is not None else connection.settings_dict
    engine = settings["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{settings['NAME']}"
    if engine == "django.db.backends.postgresql":
        credentials = quote(settings["USER"], safe="")
        if settings.get("PASSWORD"):
            credentials += ":" + quote(settings["PASSWORD"], safe="")
        port = f":{settings['PORT']}" if settings.get("PORT") else ""
        return f"postgres://{credentials}@{settings['HOST']}{port}/{quote(settings['NAME'], safe='')}"
    raise ValueError(f"no URL for the database engine {engine}")
