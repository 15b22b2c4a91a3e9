"""How many drainers an incident has: exactly `PREFETCH_INCIDENT_DRAINERS`, from the moment each is
sent until it ends, whatever it is doing in between.

Each incident has a registry in Redis (a hash): one entry per drainer, named by a token that is also
its task's id, in one of three states:

- `sent <time>`: reserved by `drainers_dispatch` and published; waiting in the queue's list.
- `got <worker>`: received by a worker process (prefetched, not started: no longer in the list).
- `run <worker>`: running in that worker process.

Counting only running drainers and the queue's length misses the middle state: a message a worker
has received is in neither, so a sweep right after a hold's click saw none of them and sent as many
again. Every change to a registry is one Lua script, so concurrent dispatchers (sweeps in several
workers, a click's own dispatch, a retry, a hand-over) never add more entries than the number
together, and a drainer that finds its reservation gone starts only if there is room. An entry
counts until its drainer ends, except when it is lost:

- `got`/`run` of a worker process that stopped beating (`prefetch_ui.core.workers`): the process is
  dead, and with it whatever it had received or was running.
- `sent` older than `RESERVATION_UNSEEN_AFTER` whose message is not in the queue's list: the message
  was lost (a Redis that came back empty, a publish that failed after the reservation), or a worker
  took it and died before saying so. The list is read only then, so the common case costs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

import redis
from django.conf import settings

from prefetch_ui.core.workers import KEY_PREFIX as WORKER_KEY_PREFIX
from prefetch_ui.core.workers import redis_connection
from prefetch_ui.dispatch import task_send

from ..tasks import incident_drain_task

__all__ = [
    "INCIDENTS_QUEUE",
    "RESERVATION_UNSEEN_AFTER",
    "drainer_end",
    "drainer_received",
    "drainer_start",
    "drainers_dispatch",
    "drainers_registry_key",
]

logger = logging.getLogger(__name__)

INCIDENTS_QUEUE = "incidents"
# Seconds a reservation counts without being seen in the queue's list: it covers the time between the
# reservation and its publish (the broker's retry included), and between a worker taking the message
# from the list and saying it received it. Past it, a message in the list still counts.
RESERVATION_UNSEEN_AFTER = 30
# A registry nobody touched for this long belongs to an incident long settled.
_REGISTRY_TTL = 24 * 3600

# The part every script shares: drop the entries that are lost (see the module's docstring) and
# count the rest. KEYS[1]: the registry; KEYS[2]: the queue's list. Heartbeat keys are read by name
# (they are not in KEYS): fine on one Redis, which is what the project runs (not a cluster).
_PRUNE = """
local function present_count(registry, queue, unseen_after, worker_prefix)
  local now = tonumber(redis.call('TIME')[1])
  local entries = redis.call('HGETALL', registry)
  local listed = nil
  local present = 0
  for index = 1, #entries, 2 do
    local token, entry = entries[index], entries[index + 1]
    local kind, rest = string.match(entry, '^(%a+) (.*)$')
    local keep
    if kind == 'sent' then
      keep = now - tonumber(rest) < unseen_after
      if not keep then
        if listed == nil then
          listed = table.concat(redis.call('LRANGE', queue, 0, -1), '\\n')
        end
        keep = string.find(listed, token, 1, true) ~= nil
      end
    else
      keep = kind ~= nil and redis.call('EXISTS', worker_prefix .. rest) == 1
    end
    if keep then
      present = present + 1
    else
      redis.call('HDEL', registry, token)
    end
  end
  return present
end
"""

# ARGV: wanted, unseen after, worker key prefix, ttl, then the candidate tokens (at least `wanted`).
# Returns the tokens reserved.
_RESERVE = (
    _PRUNE
    + """
local wanted = tonumber(ARGV[1])
local present = present_count(KEYS[1], KEYS[2], tonumber(ARGV[2]), ARGV[3])
local now = redis.call('TIME')[1]
local reserved = {}
local index = 5
while present < wanted and ARGV[index] do
  redis.call('HSET', KEYS[1], ARGV[index], 'sent ' .. now)
  table.insert(reserved, ARGV[index])
  present = present + 1
  index = index + 1
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return reserved
"""
)

# ARGV: token, worker. A received message turns `sent` into `got`; nothing else (a reservation
# already given up stays given up: the drainer asks for room when it starts).
_RECEIVED = """
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if entry and string.sub(entry, 1, 5) == 'sent ' then
  redis.call('HSET', KEYS[1], ARGV[1], 'got ' .. ARGV[2])
  return 1
end
return 0
"""

# ARGV: token, worker, wanted, unseen after, worker key prefix, ttl. 1: run; 0: no room.
_START = (
    _PRUNE
    + """
local running = 'run ' .. ARGV[2]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
    or present_count(KEYS[1], KEYS[2], tonumber(ARGV[4]), ARGV[5]) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], running)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
  return 1
end
return 0
"""
)


def drainers_registry_key(*, incident_id: int) -> str:
    """The Redis hash of the incident's drainers (token -> state)."""
    return f"prefetch:incident-drainers:{incident_id}"


def _keys(incident_id: int) -> list[str]:
    return [drainers_registry_key(incident_id=incident_id), INCIDENTS_QUEUE]


def _script(connection: redis.Redis, source: str) -> Any:
    return connection.register_script(source)


def drainers_dispatch(*, incident_id: int) -> int:
    """Send drainers until `PREFETCH_INCIDENT_DRAINERS` are sent, received or running; returns how
    many were sent."""
    wanted = settings.PREFETCH_INCIDENT_DRAINERS
    candidates = [uuid.uuid4().hex for _ in range(wanted)]
    with contextlib.closing(redis_connection()) as connection:
        try:
            reserved = [
                _text(token)
                for token in _script(connection, _RESERVE)(
                    keys=_keys(incident_id),
                    args=[wanted, RESERVATION_UNSEEN_AFTER, WORKER_KEY_PREFIX, _REGISTRY_TTL, *candidates],
                )
            ]
        except redis.RedisError:
            # Redis cannot be asked how many there are. It is the broker too, so a send most likely
            # fails as well; if it works, one drainer keeps the incident moving, and it asks for
            # room when it starts (`drainer_start`), so it never makes more than the number run.
            # Sending `wanted` would put that many duplicates in the pool's way at every blip.
            logger.warning("incident %s: Redis cannot count its drainers; sending one", incident_id)
            reserved = candidates[:1]
        sent = 0
        for token in reserved:
            drainer = f"a drainer for incident {incident_id}"
            if not task_send(incident_drain_task, (incident_id, token), what=drainer, task_id=token):
                # Not sent: free their places now rather than after RESERVATION_UNSEEN_AFTER.
                with contextlib.suppress(redis.RedisError):
                    connection.hdel(drainers_registry_key(incident_id=incident_id), *reserved[sent:])
                break
            sent += 1
    return sent


def drainer_received(*, incident_id: int, reservation: str, worker: str) -> None:
    """A worker process received the drainer's message: it counts under that process from now on,
    so it is released if the process dies before starting it."""
    connection = redis_connection()
    try:
        _script(connection, _RECEIVED)(keys=_keys(incident_id), args=[reservation, worker])
    except redis.RedisError:
        pass  # it still counts as sent, and is found in no list after a while: replaced then
    finally:
        connection.close()


def drainer_start(*, incident_id: int, reservation: str | None, worker: str) -> str | None:
    """The drainer's place while it runs, under its worker process; None: there is no room for it.

    Its own reservation if it is still there; if it was given up (its worker looked dead, its
    message lost for a while) or is unknown (a message sent before reservations: ""), a place only
    if fewer than the number are present: a late drainer never makes one too many. `reservation`
    None is a direct call (a test, a shell), which is counted but never refused.
    """
    token = reservation or uuid.uuid4().hex
    connection = redis_connection()
    try:
        started = _script(connection, _START)(
            keys=_keys(incident_id),
            args=[
                token,
                worker,
                # A direct call: room for it whatever is present.
                settings.PREFETCH_INCIDENT_DRAINERS if reservation is not None else 2**31,
                RESERVATION_UNSEEN_AFTER,
                WORKER_KEY_PREFIX,
                _REGISTRY_TTL,
            ],
        )
    except redis.RedisError:
        # Cannot count: run. The steps are claimed in the database, one drainer each, so one too
        # many costs a pool thread for a while, and none at all would stall the incident.
        return token
    finally:
        connection.close()
    return token if started else None


def drainer_end(*, incident_id: int, token: str) -> None:
    """The drainer ended: its place is free."""
    connection = redis_connection()
    try:
        connection.hdel(drainers_registry_key(incident_id=incident_id), token)
    except redis.RedisError:
        pass  # counted until its worker process stops beating
    finally:
        connection.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
