"""kombu's Redis transport, with one fix: a worker outlives a Redis restart (CELERY_BROKER_TRANSPORT).

The bug (kombu 5.7.0 with celery 5.7.0 and redis-py 8.x; seen in `make chaos`, redis-restart): when
Redis goes away while the worker waits in BRPOP and holds unacknowledged messages (`acks_late`:
every task running in the thread pool), celery's consumer handles the `ConnectionError` in
`on_connection_error_after_connected`: first `Connection.collect()`, then `Connection.close()`.

1. `collect()` closes the default channel. `redis.Channel.close()` first reads the pending BRPOP
   reply (`_brpop_read`); with Redis gone that raises `ConnectionError`, which `close()` does not
   catch, so the channel is left half-closed (not `closed`, pools dropped), and `collect()`, which
   ignores connection errors, goes on to detach the transport from its connection
   (`transport.client = None`).
2. `close()` closes the same channel again. This time there is no pending reply, so it goes on to
   requeue the unacknowledged messages (`QoS.restore_unacked`), which needs a new connection pool,
   whose parameters come from `transport.client.hostname`: `AttributeError: 'NoneType' object has
   no attribute 'hostname'`. That is no connection error, so neither `ignore_errors` nor the
   consumer's retry loop catch it, and the worker stops with *Unrecoverable error* (under
   `make run`, the whole product stops with it).

It depends on timing (the consumer must be inside BRPOP when the connection breaks, with messages
unacknowledged), hence 2 runs in 3. No setting avoids it: `broker_connection_retry` and
`broker_connection_max_retries` govern the reconnect that never comes, and turning `acks_late` off
would only narrow the window (reserved messages are unacknowledged too).

The fix is at the step that goes wrong: `Channel.close()` treats a connection error while reading
the last BRPOP reply as the end of that read, and finishes closing, while the transport is still
attached. Requeueing the unacknowledged messages then fails with a plain `ConnectionError` (Redis is
down), which kombu and celery handle; those messages stay in Redis's `unacked` hash and kombu puts
them back after the visibility timeout, and the tasks are idempotent, so a late redelivery changes
nothing (an incident's work is in the database: `prefetch_ui.incidents.services.steps`).
Remove this module when kombu's own `Channel.close()` does the same.
"""

from __future__ import annotations

import contextlib
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis

__all__ = ["Transport"]


class Channel(kombu_redis.Channel):
    """A Redis channel that finishes closing when the last BRPOP reply cannot be read."""

    def close(self) -> None:
        channel: Any = self  # kombu's stubs leave out these private attributes
        if channel._in_poll:
            # kombu's own close() would raise here and leave the channel half-closed.
            with contextlib.suppress(Empty, *channel.connection_errors):
                channel._brpop_read()
        super().close()


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with `Channel` above; URLs, options and everything else unchanged."""

    Channel = Channel
