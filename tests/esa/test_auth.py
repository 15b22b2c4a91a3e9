"""Signing: the reference test vector, the SDK's own signer, and byte-exact tricky values."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from alibabacloud_tea_openapi.utils import Utils as SdkUtils

from prefetch_ui.esa import EsaClient
from prefetch_ui.esa.auth import EMPTY_SHA256, AcsV3Auth, canonical_request, sign, string_to_sign
from prefetch_ui.esa_sim import DEMO_SITE_ID, EsaSimulator

VECTOR_HEADERS = {
    "accept": "application/json",
    "host": "esa.cn-hangzhou.aliyuncs.com",
    "x-acs-action": "ListScheduledPreloadJobs",
    "x-acs-content-sha256": EMPTY_SHA256,
    "x-acs-date": "2024-06-01T00:00:00Z",
    "x-acs-signature-nonce": "0123456789abcdef0123456789abcdef",
    "x-acs-version": "2024-09-10",
}
VECTOR_SIGNATURE = "df71244493372312a1a6b75d6a180bd4a393272dcff95d71e0c888c71e6d88cd"
TRICKY = "naïve 日本 a&b=c+d%20e~f/g?h#i\nsecond line\ttab 🙂"


def test_reference_test_vector() -> None:
    canonical = canonical_request(
        method="GET",
        query=[("SiteId", "123"), ("PageNumber", "1"), ("PageSize", "20")],
        headers=VECTOR_HEADERS,
        signed_headers=VECTOR_HEADERS.keys(),
        payload_sha256=EMPTY_SHA256,
    )
    assert sign("testsecret", string_to_sign(canonical)) == VECTOR_SIGNATURE


class _SdkRequest:
    """The shape `alibabacloud_tea_openapi.utils.Utils.get_authorization` reads."""

    def __init__(self, method: str, query: dict[str, str], headers: dict[str, str]) -> None:
        self.method = method
        self.pathname = "/"
        self.query = query
        self.headers = headers


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_auth_signs_exactly_as_the_official_sdk(method: str) -> None:
    fixed_now = datetime(2024, 6, 1, tzinfo=UTC)
    auth = AcsV3Auth("testid", "testsecret", now=lambda: fixed_now, nonce=lambda: "n" * 32)
    body = b"Executions=%5B%5D&Name=" + TRICKY.encode().hex().encode()
    request = httpx.Request(
        method,
        "https://esa.cn-hangzhou.aliyuncs.com/",
        params={"Id": "665d3af3621bccf3fe29e1a4", "SiteName": TRICKY},
        content=body if method == "POST" else None,
        headers={"x-acs-action": "Any", "x-acs-version": "2024-09-10"}
        | ({"content-type": "application/x-www-form-urlencoded"} if method == "POST" else {}),
    )
    signed = next(auth.auth_flow(request))
    ours = signed.headers["Authorization"]
    signed_names = ours.split("SignedHeaders=")[1].split(",")[0].split(";")
    sdk = SdkUtils.get_authorization(
        _SdkRequest(
            method,
            {"Id": "665d3af3621bccf3fe29e1a4", "SiteName": TRICKY},
            {name: signed.headers[name] for name in signed_names},
        ),
        "ACS3-HMAC-SHA256",
        signed.headers["x-acs-content-sha256"],
        "testid",
        "testsecret",
    )
    assert ours == sdk


def test_every_attempt_gets_a_fresh_nonce() -> None:
    auth = AcsV3Auth("id", "secret")
    first = next(auth.auth_flow(httpx.Request("GET", "https://h/")))
    second = next(auth.auth_flow(httpx.Request("GET", "https://h/")))
    assert first.headers["x-acs-signature-nonce"] != second.headers["x-acs-signature-nonce"]


@pytest.mark.parametrize(
    "value",
    [
        TRICKY,
        "a+b",
        "100%",
        "%2B",
        "~tilde~",
        "x=y&z=w",
        "  leading and trailing  ",
        "line1\r\nline2",
        "*'()!",
    ],
)
def test_tricky_values_arrive_byte_for_byte(wsgi_esa_client: EsaClient, value: str) -> None:
    # POST: Name travels in the form body, and comes back in the job.
    job = wsgi_esa_client.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name=f"job {value}", urls=["https://example.com/a"]
    )
    assert wsgi_esa_client.get_scheduled_preload_job(job.id).name == f"job {value}".strip()
    # GET: SiteName travels in the signed query string; a signature error would raise.
    assert wsgi_esa_client.list_sites(site_name=value).items == []


def test_arrays_travel_as_one_compact_json_field(
    wsgi_esa_client: EsaClient, mounted_sim: EsaSimulator
) -> None:
    from prefetch_ui.esa import PlanSpec

    job = wsgi_esa_client.create_scheduled_preload_job(
        site_id=DEMO_SITE_ID, name="j", urls=["https://example.com/"]
    )
    start = datetime(2030, 1, 1, tzinfo=UTC)
    wsgi_esa_client.create_scheduled_preload_executions(
        job.id, [PlanSpec(start, start.replace(hour=1), 30, 10)]
    )
    (call,) = mounted_sim.calls("CreateScheduledPreloadExecutions")
    assert call["params"]["Executions"] == (
        '[{"EndTime":"2030-01-01T01:00:00Z","Interval":30,"SliceLen":10,"StartTime":"2030-01-01T00:00:00Z"}]'
    )
    assert call["params"]["Id"] == job.id
