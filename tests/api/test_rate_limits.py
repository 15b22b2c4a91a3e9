"""Per-token rate limits: counted in Redis (the session's real one), so every web process shares
them; past the limit a 429 `rate_limited` with Retry-After. A small limit, never a clock."""

from __future__ import annotations

import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client
from environs import EnvValidationError
from pytest_django import Settings

from prefetch_ui.api.models import ApiToken
from prefetch_ui.api.rate_limits import Rate, rate_parse
from tests.api.conftest import MakeToken, bearer
from tests.factories import PlanFactory
from tests.test_settings import settings_from

pytestmark = pytest.mark.django_db


def _status(token: str, path: str = "/api/v1/sites") -> int:
    return Client().get(path, headers=bearer(token)).status_code


def test_past_the_limit_a_token_gets_429_with_retry_after(
    settings: Settings, viewer: User, make_token: MakeToken
) -> None:
    settings.PREFETCH_API_RATE_LIMIT = "3/minute"
    token, other = make_token(viewer), make_token(viewer)
    assert [_status(token) for _ in range(3)] == [200, 200, 200]
    refused = Client().get("/api/v1/sites", headers=bearer(token))
    assert refused.status_code == 429
    assert refused.json() == refused.json() | {"code": "rate_limited", "field": None}
    assert "more than 3 calls in a minute" in refused.json()["message"]
    assert 1 <= int(refused["Retry-After"]) <= 61
    # Per token: another token of the same user is not limited by the first one's calls.
    assert _status(other) == 200


def test_writes_count_and_a_limited_write_acts_not(
    settings: Settings, operator: User, make_token: MakeToken
) -> None:
    settings.PREFETCH_API_RATE_LIMIT = "1/hour"
    token = make_token(operator, scopes=["read", "operate"])
    plan = PlanFactory.create(status="running")
    assert _status(token) == 200
    response = Client().post(f"/api/v1/plans/{plan.esa_id}/stop", headers=bearer(token))
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert not plan.operations.exists()


def test_the_count_is_in_redis_for_every_process(
    settings: Settings, viewer: User, make_token: MakeToken
) -> None:
    """Another web process reads the same Redis: its count is the one every process adds to."""
    settings.PREFETCH_API_RATE_LIMIT = "5/minute"
    token = make_token(viewer)
    for _ in range(2):
        _status(token)
    another_process = redis.Redis.from_url(settings.REDIS_URL)
    (key,) = another_process.keys(f"prefetch-ui:api-rate:{ApiToken.objects.get().pk}:*")
    assert int(another_process.get(key) or 0) == 2
    another_process.incrby(key, 3)  # as if other processes had made the rest of the calls
    assert _status(token) == 429
    assert 0 < int(another_process.ttl(key)) <= 61


def test_no_limit_when_the_setting_is_empty(settings: Settings, viewer: User, make_token: MakeToken) -> None:
    settings.PREFETCH_API_RATE_LIMIT = ""
    token = make_token(viewer)
    assert {_status(token) for _ in range(5)} == {200}


def test_without_redis_the_api_answers(
    settings: Settings, viewer: User, make_token: MakeToken, closed_port: int
) -> None:
    settings.PREFETCH_API_RATE_LIMIT = "1/minute"
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    token = make_token(viewer)
    assert [_status(token) for _ in range(2)] == [200, 200]


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("120/minute", Rate(120, 60)),
        (" 5 / second ", Rate(5, 1)),
        ("0/hour", None),
        ("", None),
        ("7/day", Rate(7, 86400)),
    ],
)
def test_rates_as_the_setting_writes_them(text: str, rate: Rate | None) -> None:
    assert rate_parse(text) == rate


@pytest.mark.parametrize("text", ["120", "120/minutes", "x/minute", "-1/minute"])
def test_a_rate_that_is_none_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="120/minute"):
        rate_parse(text)


@pytest.mark.parametrize("raw", ["fast", "120", "120/fortnight"])
def test_a_malformed_rate_setting_stops_the_start_up(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    with pytest.raises(EnvValidationError) as refusal:
        settings_from(monkeypatch, PREFETCH_API_RATE_LIMIT=raw)
    assert "PREFETCH_API_RATE_LIMIT" in str(refusal.value)


def test_the_rate_setting_defaults_to_120_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from(monkeypatch)["PREFETCH_API_RATE_LIMIT"] == "120/minute"
