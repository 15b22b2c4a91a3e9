# prefetch_ui developer commands. `make test` works from a fresh clone: it builds .venv itself.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# axe-core, which tests/browser/test_accessibility.py runs inside each page (no network at test time):
# its npm tarball, pinned by version and by the sha512 the registry publishes for it (npm view
# axe-core@$(AXE_VERSION) dist.integrity), unpacked into $(VENV) so `make clean` removes it too.
# Not committed: axe.min.js is about 560 KB of generated code.
AXE_VERSION := 4.14.1
AXE_SHA512 := FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==
AXE_DIR := $(VENV)/axe-core
AXE_JS := $(AXE_DIR)/axe.min.js

# The interpreter that builds .venv: PYTHON if given, else the first Python 3.12 that actually runs, from
# python3.12 on PATH (a pyenv shim can exist and still fail) or $(PYENV_ROOT)/versions/3.12*, newest first.
PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON ?=

.PHONY: help venv install axe postgres lint typecheck check-deploy test test-sqlite test-postgres test-fast fmt run bench bench-incident chaos load clean

help:
	@echo "make test       lint, typecheck, then the tests on SQLite and on a throwaway PostgreSQL (sets up $(VENV) first)"
	@echo "make test-sqlite    the tests on SQLite only (PYTEST_ARGS=... to pick some)"
	@echo "make test-postgres  the tests on a throwaway PostgreSQL only (PYTEST_ARGS=... to pick some)"
	@echo "make test-fast  the tests that need no browser, Celery worker or deployment, on SQLite (PYTEST_ARGS=...)"
	@echo "               (the test targets run pytest in TEST_PROCESSES=2 processes; TEST_PROCESSES=0 for one)"
	@echo "make run        start the simulator, Redis, worker, beat and web (RUN_ARGS=--verbose: every task and request too)"
	@echo "make bench      time the job poll fragment and the site page against a trivial view"
	@echo "make bench-incident  hold 1,000 and 5,000 plans on the product as production runs it, then resume with a ramp; exits 1 on a miss"
	@echo "make chaos      hold 1,000 plans through five faults (worker killed, Redis, ESA), then 50 alert deliveries"
	@echo "               a second for 30 s (one incident per fingerprint, no 5xx), then a notification endpoint"
	@echo "               down for 60 s (every delivery once it is back, in order); exits 1 on a miss"
	@echo "make load       50 polls a second on gunicorn during and after a first mirror of 10,000 jobs; exits 1 on a miss"
	@echo "make fmt        format and autofix with ruff"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make typecheck  mypy"
	@echo "make check-deploy  manage.py check --deploy with production settings; fails on any warning"
	@echo "make install    (re)install the project into $(VENV) when pyproject.toml changed, and fetch axe-core (pinned) for the accessibility tests"
	@echo "make clean      remove $(VENV), caches and collected static files"

venv: $(VENV_PYTHON)

$(VENV_PYTHON):
	@is312() { "$$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; }; \
	py="$(PYTHON)"; \
	if [ -n "$$py" ]; then \
		is312 "$$py" || { echo "error: PYTHON=$$py is not a working Python 3.12" >&2; exit 1; }; \
	else \
		for candidate in "$$(command -v python3.12)" \
				$$(ls -d "$(PYENV_ROOT)"/versions/3.12*/bin/python 2>/dev/null | sort -rV); do \
			if [ -n "$$candidate" ] && is312 "$$candidate"; then py="$$candidate"; break; fi; \
		done; \
	fi; \
	if [ -z "$$py" ]; then \
		echo "error: no Python 3.12 found (tried python3.12 on PATH and $(PYENV_ROOT)/versions/3.12*)." >&2; \
		echo "       Install Python 3.12, or run: make PYTHON=/path/to/python3.12 test" >&2; \
		exit 1; \
	fi; \
	echo "creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV)

# Re-run pip only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip
	$(VENV_PYTHON) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP) $(AXE_JS)

axe: $(AXE_JS)
$(AXE_JS): Makefile | $(VENV_PYTHON)
	@command -v npm >/dev/null || { echo "error: npm is needed once, to fetch axe-core $(AXE_VERSION)" >&2; exit 1; }
	rm -rf $(AXE_DIR) && mkdir -p $(AXE_DIR)
	cd $(AXE_DIR) && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null
	@got="$$(openssl dgst -sha512 -binary $(AXE_DIR)/axe-core-$(AXE_VERSION).tgz | base64 | tr -d '\n')"; \
	if [ "$$got" != "$(AXE_SHA512)" ]; then \
		echo "error: axe-core-$(AXE_VERSION).tgz is not the pinned tarball (sha512-$$got)" >&2; rm -rf $(AXE_DIR); exit 1; \
	fi
	tar -xzf $(AXE_DIR)/axe-core-$(AXE_VERSION).tgz -C $(AXE_DIR) --strip-components=1 package/axe.min.js package/LICENSE
	rm $(AXE_DIR)/axe-core-$(AXE_VERSION).tgz
	@touch $@

# The browser tests drive Debian's Chromium; Playwright cannot download browsers on this network.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "error: $(CHROMIUM) is missing; install Chromium there" >&2; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null

# The second test run starts its own PostgreSQL cluster (prefetch_ui/dev/embedded_postgres.py) from
# the server binaries of Debian's `postgresql` package, installed here when there are none. Debian's
# package also creates a cluster of its own, which the tests never use.
POSTGRES_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb) $(shell command -v initdb))
postgres:
ifeq ($(POSTGRES_INITDB),)
	@command -v apt-get >/dev/null || { echo "error: no PostgreSQL server (initdb) found; install PostgreSQL" >&2; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
endif

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy prefetch_ui tests bench

# Django's deployment checks against the settings production gets from the environment (debug off, a
# real key, a host name; everything else at its default): any warning fails. The key is random per run;
# no database or Redis is needed.
check-deploy: $(STAMP)
	DJANGO_DEBUG=false DJANGO_ALLOWED_HOSTS=prefetch.example.com \
	DJANGO_SECRET_KEY="$$($(VENV_PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
		$(VENV_PYTHON) manage.py check --deploy --fail-level WARNING

# The whole suite twice: on SQLite, then on a PostgreSQL cluster started for the run and deleted after
# it. The first failure stops make, so the last pytest summary printed is the one that failed.
test: $(STAMP) $(AXE_JS) $(CHROMIUM) postgres
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory typecheck
	$(MAKE) --no-print-directory check-deploy
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

# The tests run in TEST_PROCESSES pytest-xdist processes, each with its own Redis, Chromium and test
# database; a module's tests stay together (its module-scoped Chromium starts once). Two, one per core:
# on this 2-core machine `make test-fast` took 199 s in one process, 131 s in 2, 143 s in 3 and 133 s
# in 4. TEST_PROCESSES=0 runs them in this process, as pytest alone does.
TEST_PROCESSES ?= 2
XDIST := $(if $(filter 0,$(TEST_PROCESSES)),-p no:xdist,-n $(TEST_PROCESSES) --dist loadfile)
PYTEST_ARGS ?=
test-sqlite: $(STAMP) $(AXE_JS) $(CHROMIUM)
	env -u DATABASE_URL $(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS)

test-postgres: $(STAMP) $(AXE_JS) $(CHROMIUM) postgres
	$(VENV_PYTHON) -m prefetch_ui.dev.embedded_postgres -- $(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS)

# The inner loop: every test but those marked slow by tests/conftest.py (a browser, a Celery worker in a
# thread or a process, `make run`, PostgreSQL or the compose stack), on SQLite.
test-fast: $(STAMP)
	env -u DATABASE_URL $(VENV)/bin/pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

run: $(STAMP)
	$(VENV_PYTHON) -m prefetch_ui.dev.devserver $(RUN_ARGS)

# Not part of `make test`: timings are reported as ratios, never asserted. Fails only when the
# job poll fragment's query count grows with its plans. ARGS="--rounds 20" for a quicker run.
bench: $(STAMP)
	$(VENV_PYTHON) -m bench.run $(ARGS)

# Not part of `make test` either: the product as `make run` starts it (the simulator and the budget at
# 50 calls a second, Redis, one worker, beat with the sync every 3 s, gunicorn); three holds of 1,000
# plans (normal, 5% faults, the worker SIGKILLed half-way), one of 5,000 at 200 calls a second, then a
# hold of two sites and their resume, one ramped, one as it was, watched for 10 minutes. Exits 1 when
# a goal is missed. ARGS="--runs normal --plans 200" or ARGS="--runs resume --resume-minutes 3".
bench-incident: $(STAMP)
	$(VENV_PYTHON) -m bench.incident $(ARGS)

# Not part of `make test`: the fault proofs of issue 11 against the product as `make run` starts it
# (gunicorn, Redis, one worker, beat with the sync, the simulator), the simulator's outage alone a minute;
# then alert deliveries at 50 a second for 30 s repeating a few fingerprints (bench/alerts.py); then a
# notification endpoint down for 60 s (bench/notify_outage.py: every delivery arrives once it is back,
# once each, in order). Exits 1 when a goal is missed. ARGS="--scenarios kill,redis-restart" for a
# quicker look (the faults), ALERTS_ARGS="--seconds 10" (the deliveries), NOTIFY_ARGS="--outage 20".
ALERTS_ARGS ?=
NOTIFY_ARGS ?=
chaos: $(STAMP)
	$(VENV_PYTHON) -m bench.chaos $(ARGS)
	$(VENV_PYTHON) -m bench.alerts $(ALERTS_ARGS)
	$(VENV_PYTHON) -m bench.notify_outage $(NOTIFY_ARGS)

# Not part of `make test`: polls at 50 a second on gunicorn (2 workers, production settings) for 60 s
# per target while the product's sync makes a first mirror of 10,000 jobs, then after it; times that
# mirror. Exits 1 when p95 > 50 ms, a poll fails or the mirror is slow. ARGS="--seconds 20".
load: $(STAMP)
	$(VENV_PYTHON) -m bench.load $(ARGS)

# Keeps var/db.sqlite3: the dev database is data, not a build product.
clean:
	rm -rf $(VENV) var/static .mypy_cache .ruff_cache .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
