"""The throwaway PostgreSQL of `make test`'s second run: a server for a block or a command, gone after."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from prefetch_ui.dev.embedded_postgres import SERVER_TIME_ZONE, postgres_server

REPO_DIR = Path(__file__).resolve().parents[2]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def parent_dir() -> Iterator[Path]:
    """A directory the server's user can reach (`postgres` when the tests run as root), which pytest's
    private tmp_path is not."""
    path = Path(tempfile.mkdtemp(prefix="prefetch-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_a_server_runs_for_the_block_and_leaves_nothing_behind(parent_dir: Path) -> None:
    with postgres_server(parent_dir) as url:
        port = urlsplit(url).port
        assert port is not None and _listening(port)
        with psycopg.connect(url) as connection:
            row = connection.execute(
                "select current_database(), current_setting('TimeZone'), current_setting('fsync'),"
                " pg_encoding_to_char(encoding) from pg_database where datname = current_database()"
            ).fetchone()
        assert row == ("prefetch", SERVER_TIME_ZONE, "off", "UTF8")
        # Over TCP it asks for the password, as a production server does.
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(urlsplit(url)._replace(netloc=f"prefetch:wrong@127.0.0.1:{port}").geturl())
        assert len(list(parent_dir.iterdir())) == 1
    assert not _listening(port)
    assert list(parent_dir.iterdir()) == []


def test_the_command_line_runs_a_command_against_a_server_and_returns_its_exit_code() -> None:
    command = textwrap.dedent(
        """
        import os, sys, psycopg
        with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
            print(connection.execute("select 40 + 2").fetchone()[0])
        sys.exit(3)
        """
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "prefetch_ui.dev.embedded_postgres", "--", sys.executable, "-c", command],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (3, "42\n"), result.stderr
    assert "PostgreSQL ready at postgres://prefetch:***@127.0.0.1:" in result.stderr


def test_a_test_gets_a_database_of_its_own(postgres_database_url: str) -> None:
    with psycopg.connect(postgres_database_url) as connection:
        tables = connection.execute("select count(*) from pg_tables where schemaname = 'public'")
        assert tables.fetchone() == (0,)
        connection.execute("create table scratch (n int)")
