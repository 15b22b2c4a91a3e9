from __future__ import annotations

from django.apps import AppConfig


class LoginsConfig(AppConfig):
    """Logging in: the throttle on failed logins, and password reset when there is e-mail to send it."""

    name = "prefetch_ui.logins"

    def ready(self) -> None:
        from . import throttle  # noqa: F401 - connects its signal receiver
