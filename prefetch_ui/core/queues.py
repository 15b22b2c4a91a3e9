"""Where a Celery task waits before a worker runs it: its queue (settings.CELERY_TASK_ROUTES), how
many messages wait there, and which live workers consume it (their heartbeats, `workers.py`).

What a page reads to say why something it asked for has not started yet. Every read is one or two
Redis calls with short timeouts; a broker that cannot be reached raises redis.RedisError, which the
caller turns into "the broker cannot be reached"."""

from __future__ import annotations

from celery import current_app
from django.conf import settings
from kombu.transport.redis import PRIORITY_STEPS, Channel

from .workers import live_workers, redis_connection

__all__ = ["queue_consumers", "queue_length", "task_queue"]


def task_queue(task_name: str) -> str:
    """The queue `task_name` is sent to, as the router decides it (settings.CELERY_TASK_ROUTES)."""
    route = current_app.amqp.router.route({}, task_name)
    queue = route.get("queue")
    name = getattr(queue, "name", queue)
    return str(name or settings.CELERY_TASK_DEFAULT_QUEUE)


def queue_length(queue: str) -> int:
    """Messages waiting in `queue` that no worker has taken yet. kombu's Redis transport keeps a
    queue as one list per priority step (the default priority in the list named as the queue)."""
    keys = [queue, *(f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS if step)]
    connection = redis_connection()
    try:
        pipeline = connection.pipeline(transaction=False)
        for key in keys:
            pipeline.llen(key)
        return sum(int(length) for length in pipeline.execute())
    finally:
        connection.close()


def queue_consumers(queue: str) -> list[str]:
    """The live worker processes (by id) that consume `queue`."""
    return sorted(worker for worker, beat in live_workers().items() if queue in beat.get("queues", []))
