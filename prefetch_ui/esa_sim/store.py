"""The simulator's state: one SQLite file, and the simulated clock anchored in it.

Simulated time runs `speed` times as fast as real time. The anchor (a real instant and the
simulated instant it stood for) is kept in the file, so a restarted simulator resumes the same
timeline: progress is computed from the clock, not from a loop that had to keep running.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEMO_SITE_ID", "SEED_SITES", "SimClock", "Store", "SubmittedBatch", "submitted_batches"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sites (
    site_id INTEGER PRIMARY KEY, site_name TEXT NOT NULL, status TEXT NOT NULL,
    access_type TEXT NOT NULL, coverage TEXT NOT NULL, plan_name TEXT NOT NULL, create_time REAL NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, site_id INTEGER NOT NULL, name TEXT NOT NULL,
    insert_way TEXT NOT NULL, oss_url TEXT NOT NULL DEFAULT '', urls TEXT NOT NULL,
    valid_flags TEXT NOT NULL, url_count INTEGER NOT NULL, cursor INTEGER NOT NULL DEFAULT 0,
    task_submitted INTEGER NOT NULL DEFAULT 0, domains TEXT NOT NULL, error_info TEXT NOT NULL,
    file_id TEXT NOT NULL, created_at REAL NOT NULL, quota_refused INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_by_site ON jobs (site_id, created_at);
CREATE TABLE IF NOT EXISTS plans (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, job_id TEXT NOT NULL, start_time REAL NOT NULL,
    end_time REAL NOT NULL, interval INTEGER NOT NULL, slice_len INTEGER NOT NULL, state TEXT NOT NULL,
    next_batch_at REAL, fired_since_start INTEGER NOT NULL DEFAULT 0,
    urls_submitted INTEGER NOT NULL DEFAULT 0, valid_submitted INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, site_id INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS plans_by_job ON plans (job_id, seq);
-- The plans that can still fire, by site and next batch: a read of one job first brings every job
-- of its site with a batch due up to now (backend.BackendCore._caught_up), in one lookup here,
-- however many settled plans the site has.
CREATE INDEX IF NOT EXISTS plans_due ON plans (site_id, next_batch_at) WHERE state = 'active';
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, seen_at REAL NOT NULL);
-- Every batch a plan fired, at its scheduled (simulated) time: what ESA submitted, for tests and
-- benchmarks to check against. Written when `advance` computes it, which may be later than `at`.
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, plan_id TEXT NOT NULL, job_id TEXT NOT NULL,
    site_id INTEGER NOT NULL, urls INTEGER NOT NULL,
    admitted INTEGER NOT NULL DEFAULT 0, refused INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS batches_by_site ON batches (site_id, at);
CREATE INDEX IF NOT EXISTS batches_by_time ON batches (at);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, action TEXT NOT NULL, params TEXT NOT NULL,
    status INTEGER NOT NULL, code TEXT NOT NULL, request_id TEXT NOT NULL
);
"""
# Columns added after the first release: a state file written before them gets them on opening.
_ADDED_COLUMNS = (
    ("sites", "paused", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "quota_refused", "INTEGER NOT NULL DEFAULT 0"),
    ("batches", "admitted", "INTEGER NOT NULL DEFAULT 0"),
    ("batches", "refused", "INTEGER NOT NULL DEFAULT 0"),
    ("plans", "site_id", "INTEGER NOT NULL DEFAULT 0"),
)
# Filling an added column from what the file already holds (a plan's site is its job's).
_FILLED_COLUMNS = {
    ("plans", "site_id"): (
        "UPDATE plans SET site_id = (SELECT site_id FROM jobs WHERE jobs.id = plans.job_id)"
    ),
}


@dataclass(frozen=True, slots=True)
class SeedSite:
    site_id: int
    site_name: str
    plan_name: str
    coverage: str
    # ESA's site Status: only on an `active` site do plans run (`pending`: its DNS is not set up yet).
    status: str = "active"


SEED_SITES: tuple[SeedSite, ...] = (
    SeedSite(190007158391808, "example.com", "enterprise", "global"),
    SeedSite(190007158391809, "shop.example.net", "standard", "overseas"),
    SeedSite(190007158391810, "static.example.org", "basic", "domestic"),
    SeedSite(190007158391811, "beta.example.io", "basic", "global", status="pending"),
)
# example.com, the seeded site that tests and the benchmark put their jobs on.
DEMO_SITE_ID = SEED_SITES[0].site_id


@dataclass(frozen=True, slots=True)
class SubmittedBatch:
    """A batch of URLs a plan submitted, at its scheduled simulated time (epoch seconds)."""

    plan_id: str
    job_id: str
    site_id: int
    at: float
    urls: int


def read_batches(
    db: sqlite3.Connection, *, since: float | None = None, until: float | None = None
) -> list[SubmittedBatch]:
    """The batches recorded in `db` with `since <= at < until` (either bound optional), in time order."""
    rows = db.execute(
        "SELECT plan_id, job_id, site_id, at, urls FROM batches"
        " WHERE (:since IS NULL OR at >= :since) AND (:until IS NULL OR at < :until) ORDER BY at, id",
        {"since": since, "until": until},
    ).fetchall()
    return [
        SubmittedBatch(plan_id=row[0], job_id=row[1], site_id=int(row[2]), at=float(row[3]), urls=int(row[4]))
        for row in rows
    ]


def submitted_batches(
    state_path: str | Path, *, since: float | None = None, until: float | None = None
) -> list[SubmittedBatch]:
    """The batches recorded in a simulator's state file, read from outside it (another process).

    Only what the simulator has computed: a batch that was due is recorded on the next read of its
    job (any call that lists or changes it), with its scheduled time.
    """
    db = sqlite3.connect(str(state_path))
    try:
        return read_batches(db, since=since, until=until)
    finally:
        db.close()


class SimClock:
    """Simulated epoch seconds: `sim_anchor + (real_now - real_anchor) * speed`."""

    def __init__(
        self, *, speed: float, real_anchor: float, sim_anchor: float, real_time: Callable[[], float]
    ) -> None:
        self.speed = speed
        self.real_anchor = real_anchor
        self.sim_anchor = sim_anchor
        self._real_time = real_time

    def now(self) -> float:
        return self.sim_anchor + (self._real_time() - self.real_anchor) * self.speed


class Store:
    """SQLite persistence. Not thread-safe by itself: the simulator serialises access."""

    def __init__(self, path: str | Path, *, speed: float, real_time: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._add_missing_columns()
        self.db.executescript(_SCHEMA)
        self.clock = self._anchor_clock(speed, real_time)
        if self.db.execute("SELECT COUNT(*) FROM sites").fetchone()[0] == 0:
            self._seed_sites()

    def _add_missing_columns(self) -> None:
        for table, column, declaration in _ADDED_COLUMNS:
            names = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            if names and column not in names:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                if filling := _FILLED_COLUMNS.get((table, column)):
                    self.db.execute(filling)

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _anchor_clock(self, speed: float, real_time: Callable[[], float]) -> SimClock:
        real_now = real_time()
        sim_now = real_now
        old_real, old_sim, old_speed = (
            self._meta("real_anchor"),
            self._meta("sim_anchor"),
            self._meta("speed"),
        )
        if old_real is not None and old_sim is not None and old_speed is not None:
            # Where the old timeline is now, as if the simulator had kept running at its old speed.
            sim_now = float(old_sim) + (real_now - float(old_real)) * float(old_speed)
        with self.db:
            self._set_meta("real_anchor", repr(real_now))
            self._set_meta("sim_anchor", repr(sim_now))
            self._set_meta("speed", repr(speed))
        return SimClock(speed=speed, real_anchor=real_now, sim_anchor=sim_now, real_time=real_time)

    def _seed_sites(self) -> None:
        created = self.clock.now() - 90 * 86400
        with self.db:
            for site in SEED_SITES:
                self.db.execute(
                    "INSERT INTO sites VALUES (?, ?, ?, 'NS', ?, ?, ?, 0)",
                    (site.site_id, site.site_name, site.status, site.coverage, site.plan_name, created),
                )

    def next_seq(self, table: str) -> int:
        if table not in ("jobs", "plans"):
            raise ValueError(f"no sequence for {table!r}")
        row = self.db.execute(f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {table}").fetchone()  # noqa: S608
        return int(row[0])

    def close(self) -> None:
        self.db.close()
