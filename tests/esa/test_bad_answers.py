"""An answer ESA sends with a value the client cannot read (a time without a zone, a count that is
not a number) is an `EsaError`, never a bare ValueError that slips past every `except EsaError`.

The answers are the simulator's, over HTTP, with one field spoilt on the way back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from prefetch_ui.esa import EsaBadAnswerError, EsaClient, EsaError, EsaResponseError, PlanSpec
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator

Spoil = Callable[[dict[str, Any]], None]


class _Spoiling(httpx.BaseTransport):
    """Real HTTP to the simulator; the answers to one action are changed by `spoil` on the way back."""

    def __init__(self, action: str, spoil: Spoil) -> None:
        self._http = httpx.HTTPTransport()
        self._action = action
        self._spoil = spoil

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._http.handle_request(request)
        content = response.read()
        if request.headers.get("x-acs-action") != self._action or response.status_code != 200:
            return httpx.Response(response.status_code, headers=response.headers, content=content)
        answer = json.loads(content)
        self._spoil(answer)
        return httpx.Response(200, json=answer)

    def close(self) -> None:
        self._http.close()


@contextmanager
def _client(sim: RunningSimulator, action: str, spoil: Spoil) -> Iterator[EsaClient]:
    with EsaClient(
        endpoint=sim.url,
        access_key_id=sim.access_key_id,
        access_key_secret=sim.access_key_secret,
        transport=_Spoiling(action, spoil),
    ) as esa:
        yield esa


def _plan_of_a_job(sim: RunningSimulator) -> str:
    with sim.client() as esa:
        job = esa.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=["https://example.com/a"])
        start = datetime.now(UTC) + timedelta(days=1)
        esa.create_scheduled_preload_executions(job.id, [PlanSpec(start, start + timedelta(hours=1), 60, 1)])
        return job.id


def _spoil_first_plan(key: str, value: object) -> Spoil:
    def spoil(answer: dict[str, Any]) -> None:
        answer["Executions"][0][key] = value

    return spoil


@pytest.mark.parametrize(
    "value",
    [
        "2024-06-03 16:00:00",  # no zone: the client refuses to guess one
        "next Tuesday",
        "2024-13-45T25:61:00Z",
        99999999999999999999,  # epoch milliseconds past the calendar
    ],
)
def test_an_unreadable_time_is_an_esa_error(sim: RunningSimulator, value: object) -> None:
    job_id = _plan_of_a_job(sim)
    spoil = _spoil_first_plan("StartTime", value)
    with (
        _client(sim, "ListScheduledPreloadExecutions", spoil) as esa,
        pytest.raises(EsaBadAnswerError) as caught,
    ):
        esa.list_scheduled_preload_executions(job_id)
    error = caught.value
    assert isinstance(error, EsaResponseError) and isinstance(error, EsaError)
    assert not isinstance(error, ValueError)
    assert (error.field, error.value, error.status) == ("StartTime", value, 200)
    assert "StartTime" in str(error)


def test_a_count_that_is_not_a_number_is_an_esa_error(sim: RunningSimulator) -> None:
    def spoil(answer: dict[str, Any]) -> None:
        answer["TotalCount"] = "several"

    with _client(sim, "ListScheduledPreloadJobs", spoil) as esa, pytest.raises(EsaBadAnswerError) as caught:
        esa.list_scheduled_preload_jobs(site_id=DEMO_SITE_ID)
    assert caught.value.field == "TotalCount"


def test_a_handler_of_esa_errors_catches_it(sim: RunningSimulator) -> None:
    job_id = _plan_of_a_job(sim)
    with _client(sim, "ListScheduledPreloadExecutions", _spoil_first_plan("EndTime", "soon")) as esa:
        try:
            esa.list_scheduled_preload_executions(job_id)
        except EsaError as error:
            caught: EsaError | None = error
        else:
            caught = None
    assert isinstance(caught, EsaBadAnswerError)


def test_the_answers_as_the_simulator_sends_them_are_read(sim: RunningSimulator) -> None:
    job_id = _plan_of_a_job(sim)
    with _client(sim, "ListScheduledPreloadExecutions", lambda answer: None) as esa:
        (plan,) = esa.list_scheduled_preload_executions(job_id).items
    assert plan.start_time is not None and plan.start_time.tzinfo is not None
