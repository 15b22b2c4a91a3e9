"""Our client's quota and site-pause methods, against the simulator over HTTP."""

from __future__ import annotations

import httpx
import pytest

from prefetch_ui.esa import (
    EsaBadAnswerError,
    EsaClient,
    EsaNotFoundError,
    InstanceQuota,
    InstanceQuotas,
    PurgeQuota,
)
from prefetch_ui.esa_sim import DEMO_SITE_ID, Quotas


def test_the_client_reads_the_quotas(esa_client: EsaClient) -> None:
    quotas = esa_client.list_instance_quotas(site_id=DEMO_SITE_ID)
    assert isinstance(quotas, InstanceQuotas) and quotas.request_id
    assert (quotas.instance_id, quotas.status) == (f"esa-site-{DEMO_SITE_ID}", "online")
    assert quotas.quotas == [
        InstanceQuota(name="preload", value=str(Quotas().preload_per_day), value_type="num")
    ]
    preload = quotas.get("preload")
    assert preload is not None and preload.number == Quotas().preload_per_day
    assert quotas.get("refresh_file") is None

    purge = esa_client.get_purge_quota(site_id=DEMO_SITE_ID, purge_type="directory")
    assert purge == PurgeQuota(
        quota=10_000, usage=0, quota_30day=0, usage_30day=0, request_id=purge.request_id
    )
    assert purge.request_id


def test_the_client_pauses_and_resumes_a_site(esa_client: EsaClient) -> None:
    assert esa_client.get_site_pause(site_id=DEMO_SITE_ID) is False
    assert esa_client.update_site_pause(site_id=DEMO_SITE_ID, paused=True)
    assert esa_client.get_site_pause(site_id=DEMO_SITE_ID) is True
    esa_client.update_site_pause(site_id=DEMO_SITE_ID, paused=False)
    assert esa_client.get_site_pause(site_id=DEMO_SITE_ID) is False
    with pytest.raises(EsaNotFoundError):
        esa_client.get_site_pause(site_id=1)


def test_an_unreadable_pause_is_a_bad_answer() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"RequestId": "R", "Paused": "maybe"})

    esa = EsaClient(
        endpoint="http://esa.test",
        access_key_id="k",
        access_key_secret="s",
        transport=httpx.MockTransport(answer),
    )
    with esa, pytest.raises(EsaBadAnswerError) as caught:
        esa.get_site_pause(site_id=DEMO_SITE_ID)
    assert caught.value.field == "Paused"
