"""One sync cycle at a time, across every worker process.

Beat sends a cycle every `PREFETCH_SYNC_PERIOD` seconds whether or not the last one has finished;
a cycle of a large estate, or one slowed by the shared ESA budget during an incident, takes several
periods, and cycles that overlap read the same jobs again and take the budget from the work that
matters. So a cycle runs only while it holds a lock in Redis; one that finds the lock held is
skipped (logged, and counted in `/metrics` as `prefetch_sync_skipped_total`). The lock names the
worker process that holds it: a process that died with it (its heartbeat stopped) loses it to the
next cycle at once, and a timeout frees it in any case.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from prefetch_ui.core.metrics import metrics_recorder
from prefetch_ui.core.workers import live_workers, redis_connection, worker_id

logger = logging.getLogger(__name__)

SYNC_LOCK_KEY = "prefetch:sync:running"
# Longer than any cycle should take (a first mirror of 10,000 jobs at 50 calls a second: 4 minutes);
# only a holder that died without a heartbeat to tell keeps it this long.
SYNC_LOCK_SECONDS = 900

# Deletes the lock only if it is still this cycle's (a timed-out lock may be another's by now).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


@contextmanager
def sync_cycle_alone() -> Iterator[bool]:
    """Yields whether this cycle may run: True when no other cycle is running (the lock is then
    this cycle's until the block ends), False when one is (the caller skips; it is counted).

    When Redis cannot be asked, the cycle runs: a sync that never runs is worse than two at once.
    """
    token = f"{worker_id()}|{uuid.uuid4().hex}"
    try:
        connection = redis_connection()
        mine = _acquire(connection, token)
    except redis.RedisError as error:
        logger.warning("sync: cannot ask Redis whether a cycle is running (%s); running this one", error)
        yield True
        return
    if not mine:
        logger.info("sync cycle skipped: the one before is still running")
        metrics_recorder().sync_skipped()
        yield False
        return
    try:
        yield True
    finally:
        try:
            connection.eval(_RELEASE, 1, SYNC_LOCK_KEY, token)
        except redis.RedisError:
            logger.warning(
                "sync: could not release the cycle's lock; it frees itself in %d s", SYNC_LOCK_SECONDS
            )


def _acquire(connection: redis.Redis, token: str) -> bool:
    if connection.set(SYNC_LOCK_KEY, token, nx=True, ex=SYNC_LOCK_SECONDS):
        return True
    holder = connection.get(SYNC_LOCK_KEY)
    if holder is None:
        return bool(connection.set(SYNC_LOCK_KEY, token, nx=True, ex=SYNC_LOCK_SECONDS))
    process = (holder.decode() if isinstance(holder, bytes) else str(holder)).partition("|")[0]
    if process in live_workers():
        return False
    # Held by a process that stopped beating: it died in its cycle. Take the lock over, unless
    # another cycle did just now.
    logger.warning("sync: the cycle of %s ended with its process; taking its lock over", process)
    if connection.eval(_RELEASE, 1, SYNC_LOCK_KEY, holder) == 0:
        return False
    return bool(connection.set(SYNC_LOCK_KEY, token, nx=True, ex=SYNC_LOCK_SECONDS))
