"""Django settings for prefetch_ui, all driven by environment variables (see `.env.example`)."""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from kombu import Queue

from prefetch_ui.core.logs import logging_settings
from prefetch_ui.environment import API_RATE, AT_LEAST_ONE, MORE_THAN_ZERO, env, known_time_zone

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Django core -----------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", True)

SECRET_KEY = env.secret("DJANGO_SECRET_KEY")
if not SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set when DJANGO_DEBUG is false"
    )
# In development, a fresh key per process: sessions do not survive a restart, and no key is ever committed.
SECRET_KEY = SECRET_KEY or "django-insecure-dev-" + secrets.token_urlsafe(50)

ALLOWED_HOSTS = env.comma_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    # Counts failed logins and refuses logins past the limit (prefetch_ui/logins/throttle.py).
    "axes",
    "prefetch_ui.core",
    "prefetch_ui.logins",
    "prefetch_ui.prefetch",
    "prefetch_ui.incidents",
    "prefetch_ui.reviews",
    # The limits pages (/limits/, /sites/<id>/limits/): quotas, site status and pause, per site.
    "prefetch_ui.limits",
    # The HTTP API (/api/v1/) and its tokens.
    "prefetch_ui.api",
    # Alert receivers (/alerts/receivers/, /hooks/<slug>/): alerts that hold prefetch by themselves.
    "prefetch_ui.alerts",
    # django-ninja, which serves the API: installed so that its docs page takes Swagger UI from its
    # static files, not from a CDN the Content-Security-Policy refuses.
    "ninja",
    # Notifications of events (holds, failed plans, late jobs, ESA or workers out of reach) to
    # webhooks, chat robots and e-mail, through an outbox (prefetch_ui/notifications).
    "prefetch_ui.notifications",
    # Dev-only: no models or URLs; installed so that manage.py finds create_dev_logins (make run).
    "prefetch_ui.dev",
]

MIDDLEWARE = [
    # First: every response, a redirect or a refusal too, carries its X-Request-ID, and every log line
    # of the request (and of the tasks it dispatches) its request_id.
    "prefetch_ui.core.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from gunicorn itself, compressed and cached: no separate server in the stack.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages and poll answers compressed for browsers that ask (a region redrawn for a poll is about
    # a tenth the bytes). Django's own, with its BREACH mitigation (random padding, since 4.2).
    "django.middleware.gzip.GZipMiddleware",
    # The Content-Security-Policy header (SECURE_CSP below) on every response.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view says otherwise (login, healthz); an htmx request
    # whose session ended is sent to log in as a whole page (prefetch_ui/logins/middleware.py).
    "prefetch_ui.logins.middleware.LoginRequiredMiddleware",
    # Cache-Control: private, no-store on whatever a logged-in user is sent.
    "prefetch_ui.core.cache_control.PrivateResponsesMiddleware",
    # Times are shown and read in the zone each operator chose (default PREFETCH_DISPLAY_TIME_ZONE).
    "prefetch_ui.web.display_zone.DisplayZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A parameter sent twice is refused, never read by its last value (prefetch_ui/core/parameters.py).
    "prefetch_ui.core.parameters.OneValuePerParameterMiddleware",
    # Last, as axes asks: turns a refused login into prefetch_ui.logins.throttle.lockout_response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "prefetch_ui.urls"
WSGI_APPLICATION = "prefetch_ui.wsgi.application"
ASGI_APPLICATION = "prefetch_ui.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "prefetch_ui.incidents.context_processors.incident_banner",
            ],
            # The tags every app's templates use (`{% load web %}`), from the project-level
            # prefetch_ui.web: registered here rather than by making web an app, since it has no
            # models, migrations or signals, and an app would only be a way to find one module.
            "libraries": {"web": "prefetch_ui.web.template_tags"},
        },
    },
]

if "DATABASE_URL" not in os.environ:
    # SQLite creates the file but not its folder; var/ is git-ignored, so a fresh clone lacks it.
    (BASE_DIR / "var").mkdir(exist_ok=True)
DATABASES = {
    "default": env.dj_db_url("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}", conn_max_age=60)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write to one SQLite file at once: WAL lets readers and a writer
    # overlap, IMMEDIATE transactions take the write lock up front (no upgrade deadlocks), and
    # writers wait their turn instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests share the database between threads (Celery worker, live server): a file, not the
    # shared-cache memory database whose table locks fail at once instead of waiting. One per
    # process, so that two test runs on one machine never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"prefetch-ui-test-{os.getpid()}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- E-mail: only to send password-reset links ------------------------------------------------------
# Password reset mails a link: its pages (and the login page's link to them) exist only when there is a
# mail server to send it (prefetch_ui/logins/views.py answers 404 otherwise).
_email_host = env.str("DJANGO_EMAIL_HOST", "").strip()
PREFETCH_PASSWORD_RESET = bool(_email_host)
if _email_host:
    # Implicit TLS (usually port 465), or else STARTTLS (587, the default): never in clear.
    _email_use_ssl = env.bool("DJANGO_EMAIL_USE_SSL", False)
    _email_use_tls = env.bool("DJANGO_EMAIL_USE_TLS", not _email_use_ssl)
    if _email_use_ssl and _email_use_tls:
        raise ImproperlyConfigured("DJANGO_EMAIL_USE_SSL and DJANGO_EMAIL_USE_TLS cannot both be true")
    # Django 6.1's MAILERS (its EMAIL_HOST and kin are deprecated). Left undefined without e-mail:
    # nothing then sends any, and an empty MAILERS would only draw a warning from the checks.
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host,
                "port": env.int("DJANGO_EMAIL_PORT", 465 if _email_use_ssl else 587),
                "username": env.str("DJANGO_EMAIL_HOST_USER", ""),
                # From the variable or from a file (DJANGO_EMAIL_HOST_PASSWORD_FILE), as the other secrets.
                "password": env.secret("DJANGO_EMAIL_HOST_PASSWORD"),
                "use_tls": _email_use_tls,
                "use_ssl": _email_use_ssl,
                "timeout": 10,
            },
        }
    }
    DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", "").strip()
    if not DEFAULT_FROM_EMAIL:
        raise ImproperlyConfigured("DJANGO_DEFAULT_FROM_EMAIL must be set when DJANGO_EMAIL_HOST is")

# --- Failed logins: throttled per account and per address (prefetch_ui/logins/throttle.py) ------------------
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account or address before any password is checked. It needs the
    # request, which every login form passes; tests log in with force_login, which bypasses backends.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failures that lock an account (from any address) or an address (for any account), and for how long.
PREFETCH_LOGIN_FAILURE_LIMIT = env.int("PREFETCH_LOGIN_FAILURE_LIMIT", 5, validate=AT_LEAST_ONE)
PREFETCH_LOGIN_COOLOFF_MINUTES = env.float("PREFETCH_LOGIN_COOLOFF_MINUTES", 15, validate=MORE_THAN_ZERO)
# Behind proxies: the header they set or append the client's address to (X-Real-IP, X-Forwarded-For)
# and how many of them append to it. Unset, the peer's address is the client's.
PREFETCH_CLIENT_IP_HEADER = env.str("PREFETCH_CLIENT_IP_HEADER", "").strip()
PREFETCH_TRUSTED_PROXY_COUNT = env.int("PREFETCH_TRUSTED_PROXY_COUNT", 1, validate=AT_LEAST_ONE)

# In the database (axes' default handler, named for the reader): shared by every web process.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = PREFETCH_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=PREFETCH_LOGIN_COOLOFF_MINUTES)
# Each alone locks: the account whatever the address, the address whatever the account.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A try during a lockout is refused without being counted: the lockout ends when the page said.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success forgives only the account's failures from that address (throttle.forgive_own_failures).
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "prefetch_ui.logins.throttle.client_ip_address"
AXES_LOCKOUT_CALLABLE = "prefetch_ui.logins.throttle.lockout_response"
# No start-up banner in every process's log; failures and lockouts are still logged (as warnings).
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
# Stored and computed in UTC; shown to people in PREFETCH_DISPLAY_TIME_ZONE.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic puts the files WhiteNoise serves (the image: /app/staticfiles).
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", "") or BASE_DIR / "var" / "static")

# --- Content-Security-Policy (docs/production.md#security-settings) -----------------------------------------
# Scripts, styles, images and fetches from this origin only, nothing inline: the pages carry no inline
# script, style or event handler (static/js/app.js wires everything by data- attributes), htmx runs
# without eval (templates/_base.html), and neither has Django's admin as we use it. No nonce, then: the
# header is the same on every response. No plugins, <base>, frames of us, or forms posted elsewhere.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# --- HTTPS (docs/production.md#security-settings) -----------------------------------------------------------
# Behind a proxy that terminates TLS, Django sees plain HTTP; this header, which the proxy sets on every
# request (overwriting the client's), says whether it was HTTPS. Unset: a client could claim it by sending it.
SECURE_PROXY_SSL_HEADER = env.proxy_ssl_header("DJANGO_SECURE_PROXY_SSL_HEADER")
# A stale token gets a sentence saying what to do, to htmx in plain text (the page's notice).
CSRF_FAILURE_VIEW = "prefetch_ui.core.views.csrf_failure"
# Origins (https://host[:port]) besides the request's own host from which forms may be posted: only
# needed when the proxy changes the host name or port the browser sees.
CSRF_TRUSTED_ORIGINS = env.comma_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # The probes are called over plain HTTP from inside the network (compose healthchecks, Kubernetes
    # probes, Prometheus), never by a browser: a redirect to HTTPS would only break them.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    # Sent only on HTTPS responses. A year, the subdomains of the dashboard's host included, and the
    # preload flag, which lets the registrable domain serving it be submitted to browsers' preload lists.
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", 365 * 24 * 60 * 60)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Production logs are JSON lines (one object a line: time, level, logger, message, request_id,
# exception); development keeps plain text. Celery workers log with this too (prefetch_ui/core/logs.py).
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", "plain" if DEBUG else "json").strip().lower()
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be json or plain, got {LOG_FORMAT!r}")

# false: routine lines (a task received or succeeded, a request served) are left out, as `make run`
# does unless --verbose, so that its console shows the banner, what operators did and what went wrong.
LOG_ROUTINE = env.bool("PREFETCH_LOG_ROUTINE", True)
LOGGING = logging_settings(
    log_format=LOG_FORMAT, level=env.str("DJANGO_LOG_LEVEL", "INFO"), routine=LOG_ROUTINE
)

# --- Celery (read by prefetch_ui/celery.py through the CELERY_ namespace) -----------------------------------
REDIS_URL = env.str("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL

# Polled pages that show many sites at once (the overview, the timeline) draw each change once for
# every viewer and keep the answer in Redis, shared by the web processes, for 2 minutes
# (prefetch_ui.web.htmx.shared_poll_answer). Short socket timeouts: without Redis a
# poll draws its own answer rather than wait.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "poll-answers": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "prefetch-ui",
        "TIMEOUT": 120,
        "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    },
}
# kombu's Redis transport with a fix that keeps a worker alive through a Redis restart
# (prefetch_ui/core/broker.py says what it fixes, and when to remove it).
CELERY_BROKER_TRANSPORT = "prefetch_ui.core.broker:Transport"
CELERY_RESULT_BACKEND = REDIS_URL
# Tasks are idempotent, so a message is acknowledged only after it ran: a crashed worker's task is redone.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A click while Redis is down must not hang the page: give up publishing quickly and leave the
# operation pending for the sweep (prefetch_ui.prefetch.services.operations.operation_sweep).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TASK_IGNORE_RESULT = True
# Incident work (holds, resumes) has its own queue: a hold never waits behind a backlog of routine
# operations. Every worker consumes both queues unless started with -Q.
CELERY_TASK_QUEUES = (Queue("incidents"), Queue("celery"))
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "prefetch_ui.incidents.tasks.*": {"queue": "incidents"},
    # A resolved alert's resume is incident work: ahead of routine work too.
    "prefetch_ui.alerts.tasks.*": {"queue": "incidents"},
}
# ESA calls wait on the network, not the CPU: threads, so that one process runs many at once (and
# beats once in Redis for all of them, see prefetch_ui/core/workers.py). Its size (the concurrency)
# follows from the number of drainers: see CELERY_WORKER_CONCURRENCY under Incidents.
CELERY_WORKER_POOL = env.str("CELERY_WORKER_POOL", "threads")

# --- ESA (bridged to the client only by prefetch_ui/esa_settings.py) ----------------------------------------
# The default endpoint is the bundled simulator (`python -m prefetch_ui.esa_sim`), with its demo key pair.
ESA_ENDPOINT = env.str("ESA_ENDPOINT", "http://127.0.0.1:9910")
ESA_ACCESS_KEY_ID = env.str("ESA_ACCESS_KEY_ID", "LTAI5tSimulatorDemoKey")
# From the variable or from a file (ESA_ACCESS_KEY_SECRET_FILE, for Docker and Kubernetes secrets).
ESA_ACCESS_KEY_SECRET = env.secret("ESA_ACCESS_KEY_SECRET") or "SimulatorDemoSecret-not-for-production"
ESA_TIMEOUT = env.float("ESA_TIMEOUT", 10.0)
# ESA calls per second from all workers together (prefetch_ui/esa_budget.py; 0: no budget). ESA does
# not publish its per-account limit; 50 is the figure the incident goals are written against.
PREFETCH_ESA_CALLS_PER_SECOND = env.int("PREFETCH_ESA_CALLS_PER_SECOND", 50)
# The budget's window is a second plus this, so that calls arriving bunched (a busy machine, network
# jitter) rarely let ESA see more in one; why 50, in prefetch_ui/esa_budget.py.
PREFETCH_ESA_BUDGET_MARGIN_MS = env.int("PREFETCH_ESA_BUDGET_MARGIN_MS", 50)

PREFETCH_DISPLAY_TIME_ZONE = env.str("PREFETCH_DISPLAY_TIME_ZONE", "Asia/Shanghai", validate=known_time_zone)

# --- The mirror of ESA and the operation outbox ----------------------------------------------------
# Seconds between two syncs of the mirror (sites, job pages, plans of jobs that can change).
PREFETCH_SYNC_PERIOD = env.float("PREFETCH_SYNC_PERIOD", 3.0)
# Seconds after which the plans of a job that cannot change (all finished) are read again anyway.
PREFETCH_SETTLED_JOB_RESYNC = env.float("PREFETCH_SETTLED_JOB_RESYNC", 600.0)
PREFETCH_SYNC_JOB_PAGE_SIZE = env.int("PREFETCH_SYNC_JOB_PAGE_SIZE", 100)
# Seconds of call budget one sync cycle may spend on its backlog (plans never read, settled jobs due for
# their re-read): a large site's first mirror goes on over several cycles of about this length, the other
# sites and the active jobs read in between, and the re-reads spread over PREFETCH_SETTLED_JOB_RESYNC.
PREFETCH_SYNC_BACKLOG_SECONDS = env.float("PREFETCH_SYNC_BACKLOG_SECONDS", 60.0, validate=MORE_THAN_ZERO)
# Seconds between two reads of a site's limits (its prefetch quota, purge quota and pause: three ESA calls,
# taken from the backlog's allowance); they change rarely, and a site's status comes with every cycle.
PREFETCH_SYNC_LIMITS_PERIOD = env.float("PREFETCH_SYNC_LIMITS_PERIOD", 600.0, validate=MORE_THAN_ZERO)
# The time zone whose midnight renews ESA's daily prefetch quota (unpublished; the simulator's default).
PREFETCH_ESA_QUOTA_TIME_ZONE = env.str(
    "PREFETCH_ESA_QUOTA_TIME_ZONE", "Asia/Shanghai", validate=known_time_zone
)
# ESA does not publish its ranges for a plan's Interval (seconds) and SliceLen (URLs per batch).
PREFETCH_MAX_INTERVAL = env.int("PREFETCH_MAX_INTERVAL", 86_400)
PREFETCH_MAX_SLICE_LEN = env.int("PREFETCH_MAX_SLICE_LEN", 1_000)
# Plans one job may have (unpublished; the simulator's default): the builder refuses a batch that
# would take a job past it, instead of sending it for ESA to refuse.
PREFETCH_MAX_PLANS_PER_JOB = env.int("PREFETCH_MAX_PLANS_PER_JOB", 100)
# URLs one job may hold and the longest URL accepted (ESA's are unpublished; these are the simulator's).
PREFETCH_MAX_URLS_PER_JOB = env.int("PREFETCH_MAX_URLS_PER_JOB", 50_000)
PREFETCH_MAX_URL_LENGTH = env.int("PREFETCH_MAX_URL_LENGTH", 2048)
# Calls one API token may make, "N/second", "N/minute", "N/hour" or "N/day" (prefetch_ui/api/rate_limits.py),
# counted in Redis so the limit holds across the web processes; "" turns it off.
PREFETCH_API_RATE_LIMIT = env.str("PREFETCH_API_RATE_LIMIT", "120/minute", validate=API_RATE).strip()
# A pasted URL list may be as large as an uploaded file (10 MB), plus the rest of the form; Django's
# 2.5 MB default would answer a generic 400 before the form could say what is wrong.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024 + 64 * 1024
# Seconds between two sweeps for operations whose dispatch or worker was lost.
PREFETCH_SWEEP_PERIOD = env.float("PREFETCH_SWEEP_PERIOD", 5.0)
# Seconds an operation may wait for a worker before its job's page says that it waits, and why (no
# worker takes its queue, other tasks wait before it, ...): a worker with a free thread starts one
# within a second, so a few seconds of waiting already means something holds it back.
PREFETCH_OPERATION_WAIT_SECONDS = max(0.0, env.float("PREFETCH_OPERATION_WAIT_SECONDS", 5.0))
# The shortest interval, in seconds, at which any page polls (docs/live-pages.md): each page has
# its own (2 s for a job, 5 s for a site, more for the overview), never under this one.
PREFETCH_POLL_MIN_SECONDS = max(1, env.int("PREFETCH_POLL_MIN_SECONDS", 2))

# --- Readiness (/readyz, prefetch_ui/core/readiness.py) -----------------------------------------------------
# Each check's time box, seconds: a dependency that does not answer within it fails as "no answer".
PREFETCH_READY_TIMEOUT = env.float("PREFETCH_READY_TIMEOUT", 2.0)
# Workers beat every 0.5 s and count as dead after 3 s (prefetch_ui/core/workers.py); 10 s lets a
# worker restart without the deployment turning unready.
PREFETCH_READY_WORKER_MAX_AGE = env.float("PREFETCH_READY_WORKER_MAX_AGE", 10.0)
# A sync starts every PREFETCH_SYNC_PERIOD seconds; a large estate takes a few periods per cycle,
# so the mirror counts as stale after 20 periods, and never sooner than a minute.
PREFETCH_READY_SYNC_MAX_AGE = env.float("PREFETCH_READY_SYNC_MAX_AGE", max(60.0, 20 * PREFETCH_SYNC_PERIOD))

# --- Incidents: holds and resumes (prefetch_ui/incidents) ---------------------------------------------------
# How far ahead a hold moves a waiting plan's window (ESA cannot stop a waiting plan). ESA does not
# publish how far ahead a plan may start; a year is the most plausible bound that is surely "never".
PREFETCH_HOLD_PARK_DAYS = env.int("PREFETCH_HOLD_PARK_DAYS", 365)
# Drainers (tasks carrying out an incident's ESA calls) per incident, across all workers: exactly
# this many, from the moment each is sent until it ends (prefetch_ui/incidents/services/drainers.py).
PREFETCH_INCIDENT_DRAINERS = env.int("PREFETCH_INCIDENT_DRAINERS", 4, validate=AT_LEAST_ONE)
# One worker's pool holds everything that runs at once, or what waits behind it expires unrun (the
# sweeps and the sync expire after one period): the drainers of two incidents (a hold and a resume,
# or a site's hold and a hold of every site), one sync cycle (cycles never overlap), the incident
# and operation sweeps, and two routine tasks. With prefetch multiplier 1, a worker takes no more
# messages than its pool has threads, so none waits received but unstarted behind a full pool.
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", 2 * PREFETCH_INCIDENT_DRAINERS + 1 + 2 + 2)
# A plan rescheduled by a resume (its window passed during the hold) starts this long after the click.
PREFETCH_RESCHEDULE_LEAD_SECONDS = env.int("PREFETCH_RESCHEDULE_LEAD_SECONDS", 60)
# Seconds between two sweeps of open incidents (lost messages, dead workers' claims).
PREFETCH_INCIDENT_SWEEP_PERIOD = env.float("PREFETCH_INCIDENT_SWEEP_PERIOD", 1.0)
# How often resolved alerts' resumes are looked at (a quiet period is counted in minutes).
PREFETCH_ALERT_SWEEP_PERIOD = env.float("PREFETCH_ALERT_SWEEP_PERIOD", 5.0)

# --- Reviews: the team lead's pages (prefetch_ui/reviews) ---------------------------------------------------
# A waiting plan whose start passed longer ago than this is flagged late on the overview: ESA starts
# a plan within seconds of its start on an active site, so minutes mean something keeps it waiting.
PREFETCH_LATE_AFTER_SECONDS = env.int("PREFETCH_LATE_AFTER_SECONDS", 300)

# --- Metrics (/metrics, prefetch_ui/core/metrics*.py) -------------------------------------------------------
# A scraper is let in with `Authorization: Bearer <token>` (empty token: none accepted), or when it connects
# directly (no proxy header) from one of these networks (empty list: none); by default only this machine.
PREFETCH_METRICS_TOKEN = env.str("PREFETCH_METRICS_TOKEN", "")
PREFETCH_METRICS_ALLOWED_NETWORKS = env.networks("PREFETCH_METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")

# --- Notifications (prefetch_ui/notifications) --------------------------------------------------------------
# Seconds between two scans for events, and between two sweeps of the outbox (retries that are due).
PREFETCH_NOTIFY_SCAN_PERIOD = env.float("PREFETCH_NOTIFY_SCAN_PERIOD", 5.0, validate=MORE_THAN_ZERO)
PREFETCH_NOTIFY_SWEEP_PERIOD = env.float("PREFETCH_NOTIFY_SWEEP_PERIOD", 2.0, validate=MORE_THAN_ZERO)
# A failed delivery is tried again after BASE seconds, then twice as long each time up to MAX, and
# given up (failed) after MAX_ATTEMPTS attempts: with the defaults, about a day of trying.
PREFETCH_NOTIFY_RETRY_BASE_SECONDS = env.float(
    "PREFETCH_NOTIFY_RETRY_BASE_SECONDS", 10.0, validate=MORE_THAN_ZERO
)
PREFETCH_NOTIFY_RETRY_MAX_SECONDS = env.float(
    "PREFETCH_NOTIFY_RETRY_MAX_SECONDS", 3600.0, validate=MORE_THAN_ZERO
)
PREFETCH_NOTIFY_MAX_ATTEMPTS = env.int("PREFETCH_NOTIFY_MAX_ATTEMPTS", 30, validate=AT_LEAST_ONE)
# Seconds between two reads of every unfinished job's outlook (URLs with no plan, a deadline missed):
# the heaviest part of the scan on a large estate, and news that is not urgent to the second.
PREFETCH_NOTIFY_JOBS_SCAN_PERIOD = env.float("PREFETCH_NOTIFY_JOBS_SCAN_PERIOD", 60.0)
# Seconds a receiver has to answer one delivery.
PREFETCH_NOTIFY_TIMEOUT = env.float("PREFETCH_NOTIFY_TIMEOUT", 10.0, validate=MORE_THAN_ZERO)
# Seconds without a successful sync before subscribers are told (ESA unreachable, or the sync stuck).
PREFETCH_NOTIFY_SYNC_STALE_SECONDS = env.float(
    "PREFETCH_NOTIFY_SYNC_STALE_SECONDS", PREFETCH_READY_SYNC_MAX_AGE
)
# Seconds a worker queue may go unconsumed (a restart takes a few) before subscribers are told.
PREFETCH_NOTIFY_NO_WORKER_SECONDS = env.float("PREFETCH_NOTIFY_NO_WORKER_SECONDS", 60.0)
# Hours a rotated webhook secret goes on signing (a second signature) beside the new one.
PREFETCH_NOTIFY_SECRET_GRACE_HOURS = env.float("PREFETCH_NOTIFY_SECRET_GRACE_HOURS", 24.0)
# The address people open the dashboard at ("https://prefetch.example.com"): notifications link to
# its pages with it. Empty: they carry the page's path only.
PREFETCH_PUBLIC_URL = env.str("PREFETCH_PUBLIC_URL", "").strip()

CELERY_BEAT_SCHEDULE = {
    # Resolved alerts whose quiet period is over (or whose hold was still being applied) resume.
    "alerts-sweep": {
        "task": "prefetch_ui.alerts.tasks.alerts_sweep_task",
        "schedule": PREFETCH_ALERT_SWEEP_PERIOD,
        "options": {"expires": PREFETCH_ALERT_SWEEP_PERIOD},
    },
    "notifications-scan": {
        "task": "prefetch_ui.notifications.tasks.notifications_scan_task",
        "schedule": PREFETCH_NOTIFY_SCAN_PERIOD,
        "options": {"expires": PREFETCH_NOTIFY_SCAN_PERIOD},
    },
    "notifications-sweep": {
        "task": "prefetch_ui.notifications.tasks.deliveries_sweep_task",
        "schedule": PREFETCH_NOTIFY_SWEEP_PERIOD,
        "options": {"expires": PREFETCH_NOTIFY_SWEEP_PERIOD},
    },
    "incidents-sweep": {
        "task": "prefetch_ui.incidents.tasks.incidents_sweep_task",
        "schedule": PREFETCH_INCIDENT_SWEEP_PERIOD,
        "options": {"expires": PREFETCH_INCIDENT_SWEEP_PERIOD},
    },
    "esa-sync": {
        "task": "prefetch_ui.prefetch.tasks.esa_sync_task",
        "schedule": PREFETCH_SYNC_PERIOD,
        # A sync that could not start within its own period is replaced by the next one.
        "options": {"expires": PREFETCH_SYNC_PERIOD},
    },
    "operation-sweep": {
        "task": "prefetch_ui.prefetch.tasks.operation_sweep_task",
        "schedule": PREFETCH_SWEEP_PERIOD,
        "options": {"expires": PREFETCH_SWEEP_PERIOD},
    },
}
