"""The simulator's gateway: signature checks, flow control, faults, wire shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa.auth import AcsV3Auth
from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES, SimConfig
from prefetch_ui.esa_sim.testing import RunningSimulator, running_simulator

HEADERS = {"x-acs-action": "ListSites", "x-acs-version": "2024-09-10"}


def _send(sim: RunningSimulator, request: httpx.Request) -> httpx.Response:
    with httpx.Client() as http:
        return http.send(request)


def _signed(sim: RunningSimulator, **auth_options: object) -> httpx.Request:
    auth = AcsV3Auth(sim.access_key_id, sim.access_key_secret, **auth_options)  # type: ignore[arg-type]
    return next(auth.auth_flow(httpx.Request("GET", f"{sim.url}/", headers=HEADERS)))


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["RequestId"] and body["HostId"] and body["Message"]
    return response.status_code, body["Code"]


def test_a_signed_request_is_answered(sim: RunningSimulator) -> None:
    response = _send(sim, _signed(sim))
    assert response.status_code == 200
    assert response.json()["TotalCount"] == len(SEED_SITES)


def test_unsigned_and_malformed_requests_are_incomplete(sim: RunningSimulator) -> None:
    assert _error(_send(sim, httpx.Request("GET", f"{sim.url}/", headers=HEADERS))) == (
        400,
        "IncompleteSignature",
    )
    request = _signed(sim)
    request.headers["Authorization"] = "ACS3-HMAC-SHA256 Credential=x"
    assert _error(_send(sim, request)) == (400, "IncompleteSignature")


def test_an_unsigned_required_header_is_incomplete(sim: RunningSimulator) -> None:
    request = _signed(sim)
    request.headers["Authorization"] = request.headers["Authorization"].replace("x-acs-action;", "")
    assert _error(_send(sim, request)) == (400, "IncompleteSignature")


def test_a_tampered_request_does_not_match(sim: RunningSimulator) -> None:
    request = _signed(sim)
    request.headers["x-acs-action"] = "ListScheduledPreloadJobs"
    assert _error(_send(sim, request)) == (400, "SignatureDoesNotMatch")


def test_a_replayed_nonce_is_refused(sim: RunningSimulator) -> None:
    request = _signed(sim)
    assert _send(sim, request).status_code == 200
    assert _error(_send(sim, request)) == (400, "SignatureNonceUsed")


def test_an_old_timestamp_is_expired(sim: RunningSimulator) -> None:
    old = datetime.now(UTC) - timedelta(minutes=16)
    assert _error(_send(sim, _signed(sim, now=lambda: old))) == (400, "InvalidTimeStamp.Expired")


def test_an_unknown_access_key_is_not_found(sim: RunningSimulator) -> None:
    auth = AcsV3Auth("LTAIunknown", "whatever")
    request = next(auth.auth_flow(httpx.Request("GET", f"{sim.url}/", headers=HEADERS)))
    assert _error(_send(sim, request)) == (404, "InvalidAccessKeyId.NotFound")


def test_unknown_action_and_version(sim: RunningSimulator) -> None:
    auth = AcsV3Auth(sim.access_key_id, sim.access_key_secret)
    for headers, expected in (
        (
            {"x-acs-action": "DeleteEverything", "x-acs-version": "2024-09-10"},
            (404, "InvalidAction.NotFound"),
        ),
        ({"x-acs-action": "ListSites", "x-acs-version": "2022-01-01"}, (400, "InvalidVersion")),
    ):
        request = next(auth.auth_flow(httpx.Request("GET", f"{sim.url}/", headers=headers)))
        assert _error(_send(sim, request)) == expected


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("where", ["query", "body"])
def test_parameters_are_accepted_in_the_query_or_the_body_over_get_or_post(
    sim: RunningSimulator, method: str, where: str
) -> None:
    auth = AcsV3Auth(sim.access_key_id, sim.access_key_secret)
    params = {"SiteName": "shop", "SiteSearchType": "fuzzy", "PageSize": "10"}
    headers = {**HEADERS}
    if where == "query":
        request = httpx.Request(method, f"{sim.url}/", params=params, headers=headers)
    else:
        headers["content-type"] = "application/x-www-form-urlencoded"
        request = httpx.Request(
            method, f"{sim.url}/", content=httpx.QueryParams(params).__str__(), headers=headers
        )
    response = _send(sim, next(auth.auth_flow(request)))
    assert response.status_code == 200, response.text
    assert [site["SiteName"] for site in response.json()["Sites"]] == ["shop.example.net"]


def test_job_total_count_is_a_string_on_the_wire(esa_client: EsaClient) -> None:
    esa_client.create_scheduled_preload_job(site_id=DEMO_SITE_ID, name="j", urls=["https://example.com/"])
    answer = esa_client.call("ListScheduledPreloadJobs", {"SiteId": DEMO_SITE_ID})
    assert answer["TotalCount"] == "1"
    assert answer["Jobs"][0]["ExecutionCount"] == 0


def test_flow_control_and_faults(tmp_path: Path) -> None:
    with running_simulator(SimConfig(state_path=tmp_path / "a.sqlite3", max_qps=2)) as sim:
        responses = [_send(sim, _signed(sim)) for _ in range(4)]
        assert [response.status_code for response in responses] == [200, 200, 400, 400]
        assert _error(responses[2]) == (400, "TooManyRequests")
        assert 0 < int(responses[2].headers["x-acs-retry-after"]) <= 1000
    with running_simulator(SimConfig(state_path=tmp_path / "b.sqlite3", fault_rate=1.0)) as sim:
        assert _error(_send(sim, _signed(sim))) == (503, "ServiceUnavailable")


def test_every_answer_has_a_request_id_and_calls_are_logged(sim: RunningSimulator) -> None:
    ok = _send(sim, _signed(sim))
    refused = _send(sim, httpx.Request("GET", f"{sim.url}/", headers=HEADERS))
    assert ok.json()["RequestId"] != refused.json()["RequestId"]
    log = httpx.get(f"{sim.url}/_sim/calls?action=ListSites").json()["Calls"]
    assert [(call["status"], call["code"]) for call in log] == [(200, ""), (400, "IncompleteSignature")]
    assert sim.access_key_secret not in json.dumps(log)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain; charset=utf-8"])
def test_a_body_esa_does_not_read_is_refused_not_ignored(sim: RunningSimulator, content_type: str) -> None:
    auth = AcsV3Auth(sim.access_key_id, sim.access_key_secret)
    job = {
        "SiteId": DEMO_SITE_ID,
        "Name": "sent as JSON",
        "InsertWay": "textBox",
        "UrlList": "https://example.com/",
    }
    request = httpx.Request(
        "POST",
        f"{sim.url}/",
        content=json.dumps(job).encode("utf-8"),
        headers={
            "x-acs-action": "CreateScheduledPreloadJob",
            "x-acs-version": "2024-09-10",
            "content-type": content_type,
        },
    )
    response = _send(sim, next(auth.auth_flow(request)))
    assert _error(response) == (400, "InvalidParameter.ContentType")
    assert "x-www-form-urlencoded" in response.json()["Message"]
    # Refused before the action ran: no job was made of a request whose parameters went unread.
    with sim.client() as esa:
        assert esa.list_scheduled_preload_jobs(site_id=DEMO_SITE_ID).total_count == 0


def test_a_form_body_with_a_charset_is_read(sim: RunningSimulator) -> None:
    auth = AcsV3Auth(sim.access_key_id, sim.access_key_secret)
    request = httpx.Request(
        "POST",
        f"{sim.url}/",
        content=b"SiteName=example.com&PageSize=10",
        headers={**HEADERS, "content-type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    response = _send(sim, next(auth.auth_flow(request)))
    assert response.status_code == 200, response.text
    assert [site["SiteName"] for site in response.json()["Sites"]] == ["example.com"]
