"""ESA's error answers become the typed hierarchy, with status, Code, Message and RequestId."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from prefetch_ui.esa import (
    EsaApiError,
    EsaAuthError,
    EsaClient,
    EsaInvalidParameterError,
    EsaNotFoundError,
    EsaServerError,
    EsaThrottledError,
    PlanSpec,
)
from prefetch_ui.esa.errors import api_error_from_response
from prefetch_ui.esa_sim import DEMO_SITE_ID
from prefetch_ui.esa_sim.testing import RunningSimulator

MISSING_ID = "0" * 24


def _raised(call: object) -> EsaApiError:
    with pytest.raises(EsaApiError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_not_found_errors(wsgi_esa_client: EsaClient) -> None:
    error = _raised(lambda: wsgi_esa_client.get_scheduled_preload_job(MISSING_ID))
    assert isinstance(error, EsaNotFoundError)
    assert (error.status, error.code) == (404, "InvalidJob.NotFound")
    assert len(error.request_id) == 36
    assert "does not exist" in error.message
    error = _raised(lambda: wsgi_esa_client.stop_scheduled_preload_execution(MISSING_ID))
    assert isinstance(error, EsaNotFoundError)
    assert error.code == "InvalidExecution.NotFound"


def test_invalid_parameter_errors(wsgi_esa_client: EsaClient) -> None:
    error = _raised(lambda: wsgi_esa_client.get_scheduled_preload_job("not-an-object-id"))
    assert isinstance(error, EsaInvalidParameterError)
    assert (error.status, error.code) == (400, "InvalidParameter.ObjectId")
    job = wsgi_esa_client.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="j", urls=["https://example.com/"]
    )
    now = datetime.now(UTC)
    plan = wsgi_esa_client.create_scheduled_preload_executions(
        job.id, [PlanSpec(now, now + timedelta(hours=1), 60, 1)]
    )
    backwards = PlanSpec(now, now - timedelta(hours=1), 60, 1)
    error = _raised(
        lambda: wsgi_esa_client.update_scheduled_preload_execution(plan.succeeded[0].id, backwards)
    )
    assert isinstance(error, EsaInvalidParameterError)
    assert error.code == "InvalidEndTime.Mismatch"
    error = _raised(
        lambda: wsgi_esa_client.call(
            "CreateScheduledPreloadJob", {"SiteId": DEMO_SITE_ID, "Name": "x", "InsertWay": "textBox"}
        )
    )
    assert error.code == "MissingUrlList"
    error = _raised(
        lambda: wsgi_esa_client.call(
            "CreateScheduledPreloadJob", {"SiteId": DEMO_SITE_ID, "Name": "x", "InsertWay": "oss"}
        )
    )
    assert error.code == "MissingOssUrl"


def test_auth_errors(sim: RunningSimulator, caplog: pytest.LogCaptureFixture) -> None:
    # Over a real socket, here and below: the secret must not show in the transport's logs either.
    caplog.set_level(logging.DEBUG)
    with sim.client(access_key_secret="the-wrong-secret-4711") as wrong:
        error = _raised(wrong.list_sites)
    assert isinstance(error, EsaAuthError)
    assert (error.status, error.code) == (400, "SignatureDoesNotMatch")
    with sim.client(access_key_id="LTAInobodyHasThisKey") as unknown:
        error = _raised(unknown.list_sites)
    assert isinstance(error, EsaAuthError)
    assert (error.status, error.code) == (404, "InvalidAccessKeyId.NotFound")
    # Neither secret appears anywhere a person could read it.
    for text in (caplog.text, str(error), repr(error), repr(wrong)):
        assert "the-wrong-secret-4711" not in text
        assert sim.access_key_secret not in text


def test_the_secret_never_shows(
    sim: RunningSimulator, esa_client: EsaClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    esa_client.list_sites()
    with pytest.raises(EsaNotFoundError) as caught:
        esa_client.get_scheduled_preload_job(MISSING_ID)
    shown = [
        caplog.text,
        repr(esa_client),
        repr(esa_client._http.auth),
        str(caught.value),
        repr(caught.value),
    ]
    assert all(sim.access_key_secret not in text for text in shown)


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "expected"),
    [
        (400, "TooManyRequests", None, EsaThrottledError),
        (400, "Throttling.User", None, EsaThrottledError),
        (400, "AnythingElse", 1.5, EsaThrottledError),
        (503, "ServiceUnavailable", None, EsaServerError),
        (500, "InternalError", None, EsaServerError),
        (403, "InvalidUid.PermissionDenied", None, EsaAuthError),
        (404, "InvalidAccessKeyId.NotFound", None, EsaAuthError),
        (404, "LogNotFound", None, EsaNotFoundError),
        (400, "InvalidJob.JobCountOfSiteFull", None, EsaInvalidParameterError),
    ],
)
def test_error_mapping(
    status: int, code: str, retry_after: float | None, expected: type[EsaApiError]
) -> None:
    error = api_error_from_response(
        status=status, code=code, message="m", request_id="r", action="A", retry_after=retry_after
    )
    assert type(error) is expected
    assert (error.status, error.code, error.request_id) == (status, code, "r")


def test_a_nul_in_esa_s_text_comes_out_as_the_replacement_character() -> None:
    """No text of ESA's means a NUL, and PostgreSQL refuses one wherever the dashboard keeps text."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["x-acs-action"] == "ListSites":
            site = {"SiteId": DEMO_SITE_ID, "SiteName": "example.com\x00", "Status": "act\x00ive"}
            return httpx.Response(200, json={"Sites": [site], "TotalCount": 1, "RequestId": "r\x00"})
        return httpx.Response(400, json={"Code": "Bad\x00Code", "Message": "no\x00pe", "RequestId": "r\x00"})

    with EsaClient(
        endpoint="http://esa.test",
        access_key_id="id",
        access_key_secret="secret",
        transport=httpx.MockTransport(answer),
    ) as esa:
        page = esa.list_sites()
        error = _raised(lambda: esa.get_scheduled_preload_job(MISSING_ID))
    assert (page.items[0].site_name, page.items[0].status, page.request_id) == (
        "example.com\ufffd",
        "act\ufffdive",
        "r\ufffd",
    )
    assert (error.code, error.message, error.request_id) == ("Bad\ufffdCode", "no\ufffdpe", "r\ufffd")
