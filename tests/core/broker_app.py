"""A Celery app for `test_broker.py`: the project's Celery settings (transport, acks_late, thread
pool), with two tasks that need no database, run by a real `celery worker` process."""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prefetch_ui.settings")

# Not the current app: importing this module (collecting test_broker.py) must not take the project's
# place, or the project's shared tasks would publish through this app, to the settings' own Redis.
app = Celery("broker_test", set_as_current=False)
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(acks_late=True)
def nap(seconds: float) -> None:
    """Hold a thread (and, with acks_late, an unacknowledged message) for `seconds`."""
    time.sleep(seconds)


@app.task
def mark(key: str) -> None:
    """Set `key` in Redis: the proof that the worker ran this task."""
    redis.Redis.from_url(os.environ["REDIS_URL"]).set(key, "1")
