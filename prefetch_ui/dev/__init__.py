"""Dev-only code: `make run` (the devserver), the embedded Redis it and the tests start, the dev logins.

Production never runs any of it: the Docker image runs gunicorn, Celery and a real Redis. It is an
installed app only so that `manage.py create_dev_logins` exists; it has no models, URLs or templates.
"""
