"""Dev-only code: `make run` (the devserver), the embedded Redis it and the tests start, and the dev logins.

Nothing in production imports this package: the Docker image runs gunicorn, Celery and a real Redis.
"""
