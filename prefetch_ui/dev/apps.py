from __future__ import annotations

from django.apps import AppConfig


class DevConfig(AppConfig):
    """Dev-only tooling; an app only so that Django finds its `create_dev_logins` command. No models."""

    name = "prefetch_ui.dev"
    label = "dev"
