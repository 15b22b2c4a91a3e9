"""WSGI entry point, used by gunicorn in docker/ (`prefetch_ui.wsgi:application`)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prefetch_ui.settings")

application = get_wsgi_application()
