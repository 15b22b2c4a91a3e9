"""Failed logins, throttled per account and per address: through the login form, as a person (or a
password guesser) would post it, from addresses the test chooses."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.db.models import F
from django.test import Client, RequestFactory
from django.urls import reverse
from pytest_django import Settings

from prefetch_ui.logins.throttle import client_ip_address
from tests.accounts import OPERATOR, VIEWER, Login
from tests.test_settings import settings_from

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

LIMIT, COOLOFF_MINUTES = 5, 15  # the defaults
HOME, ELSEWHERE, PROXY = "198.51.100.7", "203.0.113.9", "10.0.0.2"
THROTTLED = "Too many failed logins for this account or from this address: try again in {} minutes."


@pytest.fixture(autouse=True)
def people(settings: Settings) -> None:
    """Olga and Vic have accounts; nobody else does. Their passwords hashed quickly: these tests post
    the form a hundred times, and the real hasher takes half a second each (and every failure too)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for login in (OPERATOR, VIEWER):
        User.objects.create_user(login.username, password=login.password)


def log_in(
    login: Login | tuple[str, str], address: str, *, headers: dict[str, str] | None = None, next_url: str = ""
) -> Response:
    """One POST of the login form from `address`, in a browser of its own."""
    username, password = (login.username, login.password) if isinstance(login, Login) else login
    return Client(REMOTE_ADDR=address).post(
        reverse("login"), {"username": username, "password": password, "next": next_url}, headers=headers
    )


def fail(
    username: str, address: str, times: int = 1, *, headers: dict[str, str] | None = None, next_url: str = ""
) -> Response:
    """`times` logins with a wrong password; the last answer."""
    answers = [
        log_in((username, "wrong-password"), address, headers=headers, next_url=next_url)
        for _ in range(times)
    ]
    return answers[-1]


def logged_in(response: Response) -> bool:
    return response.status_code == 302 and response["Location"] == reverse("home")


def throttled(response: Response, minutes: int = COOLOFF_MINUTES) -> bool:
    return response.status_code == 429 and THROTTLED.format(minutes) in response.content.decode()


def test_failures_below_the_limit_only_say_the_password_was_wrong() -> None:
    response = fail(OPERATOR.username, HOME, times=LIMIT - 1)

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert logged_in(log_in(OPERATOR, HOME))


def test_the_limit_locks_the_account_even_from_another_address() -> None:
    # The failure that reaches the limit is already answered with the throttle.
    assert throttled(fail(OPERATOR.username, HOME, times=LIMIT))

    # The right password, from elsewhere: refused all the same, and said why.
    assert throttled(log_in(OPERATOR, ELSEWHERE))
    # Another account from that other address is not concerned.
    assert logged_in(log_in(VIEWER, ELSEWHERE))


def test_the_limit_locks_the_address_even_for_another_account() -> None:
    for username in ("vic", "admin", "root", "olga2", "nobody"):
        fail(username, HOME)

    assert throttled(log_in(OPERATOR, HOME))
    # Olga's account itself had no failure: from another address she logs in.
    assert logged_in(log_in(OPERATOR, ELSEWHERE))


def test_the_throttled_page_is_the_login_form_saying_why_and_for_how_long() -> None:
    response = fail(OPERATOR.username, HOME, times=LIMIT, next_url="/jobs/66a0/")
    page = response.content.decode()

    assert response.status_code == 429
    assert "<h1>Log in</h1>" in page and 'class="topbar"' in page  # the dashboard's own page
    assert THROTTLED.format(COOLOFF_MINUTES) in page
    assert "Please enter a correct username" not in page  # the password was not even checked
    assert 'name="username" value="olga"' in page
    assert 'name="next" value="/jobs/66a0/"' in page


def test_the_throttled_page_keeps_no_next_address_that_leaves_the_site() -> None:
    response = fail(OPERATOR.username, HOME, times=LIMIT, next_url="https://evil.example/")

    assert 'name="next" value=""' in response.content.decode()


def test_the_page_says_how_long_is_left() -> None:
    fail(OPERATOR.username, HOME, times=LIMIT)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=10, seconds=30))

    assert throttled(log_in(OPERATOR, HOME), minutes=5)


def test_tries_during_the_lockout_do_not_make_it_longer() -> None:
    fail(OPERATOR.username, HOME, times=LIMIT)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=10, seconds=30))

    assert throttled(fail(OPERATOR.username, HOME, times=3), minutes=5)


def test_the_lockout_ends_after_the_cool_off() -> None:
    fail(OPERATOR.username, HOME, times=LIMIT)
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - timedelta(minutes=COOLOFF_MINUTES, seconds=1)
    )

    assert logged_in(log_in(OPERATOR, HOME))


def test_a_success_forgives_the_accounts_own_failures() -> None:
    fail(OPERATOR.username, HOME, times=LIMIT - 1)
    assert logged_in(log_in(OPERATOR, HOME))

    fail(OPERATOR.username, HOME, times=LIMIT - 1)
    assert logged_in(log_in(OPERATOR, HOME))


def test_a_success_does_not_forgive_failures_on_other_accounts() -> None:
    # Vic tries passwords on Olga's account, and logs in as himself to wipe the count: in vain.
    fail(OPERATOR.username, HOME, times=LIMIT - 1)
    assert logged_in(log_in(VIEWER, HOME))

    assert throttled(fail(OPERATOR.username, HOME))


def test_the_limit_and_the_cool_off_are_settings(settings: Settings) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=3)

    assert throttled(fail(OPERATOR.username, HOME, times=2), minutes=3)


def test_the_environment_sets_the_limit_and_the_cool_off(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_from(monkeypatch, PREFETCH_LOGIN_FAILURE_LIMIT="3", PREFETCH_LOGIN_COOLOFF_MINUTES="60")

    assert (loaded["AXES_FAILURE_LIMIT"], loaded["AXES_COOLOFF_TIME"]) == (3, timedelta(hours=1))
    assert loaded["AXES_LOCKOUT_PARAMETERS"] == ["username", "ip_address"]  # either one locks


# -- which address: the peer's, or a proxy's header when one is configured ---------------------------


def test_a_header_the_client_sends_is_not_believed_unless_configured() -> None:
    for index in range(LIMIT):
        fail(f"guess{index}", HOME, headers={"X-Forwarded-For": f"192.0.2.{index}"})

    assert throttled(log_in(OPERATOR, HOME, headers={"X-Forwarded-For": "192.0.2.99"}))


def test_behind_a_proxy_the_address_it_saw_is_counted(settings: Settings) -> None:
    settings.PREFETCH_CLIENT_IP_HEADER = "X-Forwarded-For"
    # One client behind the proxy guesses, claiming other addresses in the part of the header it writes.
    for index in range(LIMIT):
        fail(f"guess{index}", PROXY, headers={"X-Forwarded-For": f"192.0.2.{index}, {HOME}"})

    assert throttled(log_in(OPERATOR, PROXY, headers={"X-Forwarded-For": HOME}))
    # Another client behind the same proxy is not concerned.
    assert logged_in(log_in(OPERATOR, PROXY, headers={"X-Forwarded-For": ELSEWHERE}))


@pytest.mark.parametrize(
    ("header", "count", "value", "expected"),
    [
        ("", 1, "192.0.2.1", PROXY),  # not configured: the peer
        ("X-Real-IP", 1, HOME, HOME),
        ("X-Forwarded-For", 1, f"192.0.2.1, {HOME}", HOME),  # the left part is the client's own claim
        ("X-Forwarded-For", 2, f"192.0.2.1, {HOME}, 10.0.0.1", HOME),  # two proxies append
        ("X-Forwarded-For", 2, HOME, HOME),  # fewer entries than proxies: the first
        ("X-Forwarded-For", 1, "", PROXY),  # missing: the peer
        ("X-Forwarded-For", 1, "unknown", PROXY),  # not an address: the peer
        ("X-Forwarded-For", 1, "2001:DB8::1", "2001:db8::1"),
    ],
)
def test_client_ip_address(settings: Settings, header: str, count: int, value: str, expected: str) -> None:
    settings.PREFETCH_CLIENT_IP_HEADER = header
    settings.PREFETCH_TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, headers={header or "X-Forwarded-For": value})

    assert client_ip_address(request) == expected
