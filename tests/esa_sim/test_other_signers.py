"""Every way real ESA is signed works against the simulator, and fails there as it fails on ESA.

Driven over HTTP by Alibaba Cloud's own libraries: `aliyun-python-sdk-core`'s CommonRequest (the RPC
signature, HMAC-SHA1, as the aliyun CLI sends it) and `alibabacloud_tea_openapi` with
`signature_algorithm="v2"` (the same RPC signature, sent its way) and `"ACS3-HMAC-SM3"`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from alibabacloud_esa20240910 import models as esa_models
from alibabacloud_esa20240910.client import Client as SdkClient
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from aliyunsdkcore.utils import parameter_helper

from prefetch_ui.esa_sim import DEMO_SITE_ID, SEED_SITES
from prefetch_ui.esa_sim.testing import ManualClock, RunningSimulator

TEA_ALGORITHMS = ["v2", "ACS3-HMAC-SM3"]

# -- aliyun-python-sdk-core: CommonRequest, signature 1.0 ---------------------------------------


def _core(sim: RunningSimulator, secret: str | None = None) -> AcsClient:
    port = int(sim.url.rsplit(":", 1)[1])
    return AcsClient(
        sim.access_key_id, secret or sim.access_key_secret, "cn-hangzhou", auto_retry=False, port=port
    )


def _common_request(
    action: str,
    *,
    method: str = "GET",
    query: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> CommonRequest:
    request = CommonRequest(domain="127.0.0.1", version="2024-09-10", action_name=action)
    request.set_protocol_type("http")
    request.set_method(method)
    request.set_accept_format("json")
    for name, value in (query or {}).items():
        request.add_query_param(name, value)
    for name, value in (body or {}).items():
        request.add_body_params(name, value)
    return request


def _core_code(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ServerException) as caught:
        call()
    return caught.value.get_http_status(), caught.value.get_error_code()


def test_core_sdk_common_request_is_answered(sim: RunningSimulator) -> None:
    core = _core(sim)
    sites = json.loads(core.do_action_with_exception(_common_request("ListSites", query={"PageSize": 50})))
    assert sites["TotalCount"] == len(SEED_SITES) and sites["Sites"][0]["SiteName"] == "example.com"

    # A POST with its fields in a form body: the body is signed with the query.
    created = json.loads(
        core.do_action_with_exception(
            _common_request(
                "CreateScheduledPreloadJob",
                method="POST",
                body={
                    "SiteId": DEMO_SITE_ID,
                    "Name": "core job ✓ a&b=c +*~",
                    "InsertWay": "textBox",
                    "UrlList": "https://example.com/a\nhttps://example.com/b c",
                },
            )
        )
    )
    assert created["Name"] == "core job ✓ a&b=c +*~" and created["UrlCount"] == 2
    jobs = json.loads(
        core.do_action_with_exception(
            _common_request("ListScheduledPreloadJobs", query={"SiteId": DEMO_SITE_ID})
        )
    )
    assert [job["Id"] for job in jobs["Jobs"]] == [created["Id"]]

    # What an action and the call log see is the call's own parameters, not the signature's.
    (logged,) = [call for call in sim.calls("CreateScheduledPreloadJob") if call["status"] == 200]
    assert "Signature" not in logged["params"] and "SignatureNonce" not in logged["params"]
    assert logged["params"]["Name"] == "core job ✓ a&b=c +*~"


def test_core_sdk_with_a_wrong_secret_does_not_match(sim: RunningSimulator) -> None:
    core = _core(sim, secret="not-the-secret")
    with pytest.raises(ServerException) as caught:
        core.do_action_with_exception(_common_request("ListSites"))
    assert (caught.value.get_http_status(), caught.value.get_error_code()) == (400, "SignatureDoesNotMatch")
    # ESA's words, which the core SDK splits at ":" to compare with the string it signed.
    message = caught.value.get_error_msg()
    assert message.split(":")[1].startswith("GET&%2F&AccessKeyId%3D")


def test_core_sdk_replaying_a_nonce_is_refused(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parameter_helper, "get_uuid", lambda: "one-nonce-for-every-request")
    core = _core(sim)
    assert json.loads(core.do_action_with_exception(_common_request("ListSites")))["TotalCount"]
    assert _core_code(lambda: core.do_action_with_exception(_common_request("ListSites"))) == (
        400,
        "SignatureNonceUsed",
    )


def test_core_sdk_with_a_stale_timestamp_is_expired(
    clocked_sim: RunningSimulator, clock: ManualClock
) -> None:
    clock.forward(16 * 60)  # the simulator's clock is 16 minutes ahead of the client's
    core = _core(clocked_sim)
    assert _core_code(lambda: core.do_action_with_exception(_common_request("ListSites"))) == (
        400,
        "InvalidTimeStamp.Expired",
    )


def test_a_missing_signing_parameter_is_incomplete(sim: RunningSimulator) -> None:
    # A script that signs by hand and forgets SignatureNonce, or names a method ESA does not know.
    base = {
        "Action": "ListSites",
        "Version": "2024-09-10",
        "Format": "JSON",
        "AccessKeyId": sim.access_key_id,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "Timestamp": "2024-06-01T00:00:00Z",
        "Signature": "x",
    }
    answer = httpx.get(f"{sim.url}/", params=base)
    assert (answer.status_code, answer.json()["Code"]) == (400, "IncompleteSignature")
    assert "SignatureNonce" in answer.json()["Message"]
    answer = httpx.get(f"{sim.url}/", params={**base, "SignatureNonce": "n", "SignatureMethod": "HMAC-MD5"})
    assert (answer.status_code, answer.json()["Code"]) == (400, "IncompleteSignature")


# -- alibabacloud_tea_openapi: the "v2" RPC signature and ACS3-HMAC-SM3 -------------------------


def _tea(sim: RunningSimulator, algorithm: str, secret: str | None = None) -> SdkClient:
    config = openapi_models.Config(
        access_key_id=sim.access_key_id,
        access_key_secret=secret or sim.access_key_secret,
        endpoint=sim.url.removeprefix("http://"),
        protocol="http",
        signature_algorithm=algorithm,
        read_timeout=10_000,
        connect_timeout=5_000,
    )
    return SdkClient(config)


def _tea_code(call: Callable[[], object]) -> tuple[int | None, str | None]:
    with pytest.raises(AlibabaCloudException) as caught:
        call()
    return getattr(caught.value, "status_code", None), getattr(caught.value, "code", None)


@pytest.fixture
def one_tea_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TeaUtils, "get_nonce", staticmethod(lambda: "one-nonce-for-every-request"))


@pytest.mark.parametrize("algorithm", TEA_ALGORITHMS)
def test_tea_openapi_is_answered(sim: RunningSimulator, algorithm: str) -> None:
    sdk = _tea(sim, algorithm)
    sites = sdk.list_sites(esa_models.ListSitesRequest(page_size=50)).body
    assert sites.total_count == len(SEED_SITES) and sites.sites[0].site_name == "example.com"
    created = sdk.create_scheduled_preload_job(
        esa_models.CreateScheduledPreloadJobRequest(
            site_id=DEMO_SITE_ID,
            name=f"{algorithm} job ✓ a&b=c",
            insert_way="textBox",
            url_list="https://example.com/a\nhttps://example.com/b",
        )
    ).body
    assert created.name == f"{algorithm} job ✓ a&b=c" and created.url_count == 2
    jobs = sdk.list_scheduled_preload_jobs(
        esa_models.ListScheduledPreloadJobsRequest(site_id=DEMO_SITE_ID)
    ).body
    assert [job.id for job in jobs.jobs] == [created.id]


@pytest.mark.parametrize("algorithm", TEA_ALGORITHMS)
def test_tea_openapi_with_a_wrong_secret_does_not_match(sim: RunningSimulator, algorithm: str) -> None:
    sdk = _tea(sim, algorithm, secret="not-the-secret")
    with pytest.raises(AlibabaCloudException) as caught:
        sdk.list_sites(esa_models.ListSitesRequest())
    refusal = caught.value
    assert (getattr(refusal, "status_code", None), getattr(refusal, "code", None)) == (
        400,
        "SignatureDoesNotMatch",
    )
    # Which scheme the library used shows in the refusal: only the RPC signature's tells the string
    # the gateway signed, as ESA's does.
    says_string_to_sign = "server string to sign is:GET&%2F&AccessKeyId%3D" in str(refusal)
    assert says_string_to_sign == (algorithm == "v2")


@pytest.mark.parametrize("algorithm", TEA_ALGORITHMS)
@pytest.mark.usefixtures("one_tea_nonce")
def test_tea_openapi_replaying_a_nonce_is_refused(sim: RunningSimulator, algorithm: str) -> None:
    sdk = _tea(sim, algorithm)
    assert sdk.list_sites(esa_models.ListSitesRequest()).body.total_count
    assert _tea_code(lambda: sdk.list_sites(esa_models.ListSitesRequest())) == (400, "SignatureNonceUsed")


@pytest.mark.parametrize("algorithm", TEA_ALGORITHMS)
def test_tea_openapi_with_a_stale_timestamp_is_expired(
    clocked_sim: RunningSimulator, clock: ManualClock, algorithm: str
) -> None:
    clock.forward(-16 * 60)  # the simulator's clock is 16 minutes behind the client's
    sdk = _tea(clocked_sim, algorithm)
    assert _tea_code(lambda: sdk.list_sites(esa_models.ListSitesRequest())) == (
        400,
        "InvalidTimeStamp.Expired",
    )


def test_an_sm3_request_whose_body_hash_is_sha256_does_not_match(sim: RunningSimulator) -> None:
    """SM3 replaces SHA-256 everywhere, the payload hash included (it keeps its header's name)."""
    sdk = _tea(sim, "ACS3-HMAC-SM3")
    original = TeaUtils.hash

    def sha256_payload(raw: bytes, sign_type: str) -> bytes:
        # The payload is hashed first (of b"" for a GET), then the canonical request.
        return hashlib.sha256(raw).digest() if raw == b"" else original(raw, sign_type)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TeaUtils, "hash", staticmethod(sha256_payload))
        assert _tea_code(lambda: sdk.list_sites(esa_models.ListSitesRequest())) == (
            400,
            "SignatureDoesNotMatch",
        )


def test_an_acs3_algorithm_esa_does_not_know_is_incomplete(sim: RunningSimulator) -> None:
    headers = {
        "Authorization": "ACS3-HMAC-MD5 Credential=x,SignedHeaders=host,Signature=abc",
        "x-acs-action": "ListSites",
        "x-acs-version": "2024-09-10",
    }
    answer = httpx.get(f"{sim.url}/", headers=headers)
    assert (answer.status_code, answer.json()["Code"]) == (400, "IncompleteSignature")


def test_an_rpc_signed_body_that_was_changed_does_not_match(sim: RunningSimulator) -> None:
    """The form body is signed with the query: a field changed on the way is refused."""
    body = {
        "SiteId": str(DEMO_SITE_ID),
        "Name": "signed",
        "InsertWay": "textBox",
        "UrlList": "https://example.com/",
    }
    query = {"Action": "CreateScheduledPreloadJob", "Version": "2024-09-10"}
    url, _ = rpc_signature_composer.get_signed_url(
        query, sim.access_key_id, sim.access_key_secret, "JSON", "POST", body
    )
    answer = httpx.post(f"{sim.url}{url}", data={**body, "Name": "forged"})
    assert (answer.status_code, answer.json()["Code"]) == (400, "SignatureDoesNotMatch")
    url, _ = rpc_signature_composer.get_signed_url(
        query, sim.access_key_id, sim.access_key_secret, "JSON", "POST", body
    )
    answer = httpx.post(f"{sim.url}{url}", data=body)
    assert (answer.status_code, answer.json()["Name"]) == (200, "signed")


def test_rpc_signing_parameters_may_travel_in_the_form_body(sim: RunningSimulator) -> None:
    """A script may POST every parameter, the signature's included, as one form body."""
    # Matched by prefix: ESA matches a SiteName exactly unless told otherwise.
    params = {"Action": "ListSites", "Version": "2024-09-10", "SiteName": "shop", "SiteSearchType": "prefix"}
    url, _ = rpc_signature_composer.get_signed_url(
        params, sim.access_key_id, sim.access_key_secret, "JSON", "POST", {}
    )
    signed = dict(httpx.URL(f"{sim.url}{url}").params)
    answer = httpx.post(f"{sim.url}/", data=signed)
    assert answer.status_code == 200, answer.text
    assert [site["SiteName"] for site in answer.json()["Sites"]] == ["shop.example.net"]
