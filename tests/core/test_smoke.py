from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.views.debug import SafeExceptionReporterFilter

if TYPE_CHECKING:
    from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(username="operator", password="correct horse battery")


def test_healthz_reports_ok(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_home_redirects_anonymous_user_to_login(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_login_page_renders(client: Client) -> None:
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_logged_in_user_sees_home_page(client: Client, user: User) -> None:
    client.force_login(user)

    response = client.get("/")

    assert response.status_code == 200
    assert b"<h1>Sites</h1>" in response.content
    assert b"operator" in response.content
    # htmx is served by django-htmx's template tag, not a CDN.
    assert b"htmx" in response.content


def test_user_can_log_in_with_password(client: Client, user: User) -> None:
    response = client.post(
        reverse("login"), {"username": "operator", "password": "correct horse battery"}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("home")
    assert b"<h1>Sites</h1>" in response.content


def test_pages_never_show_secrets(client: Client, user: User) -> None:
    secrets = [settings.SECRET_KEY.encode(), settings.ESA_ACCESS_KEY_SECRET.encode()]

    pages = [client.get(reverse("login")).content]
    client.force_login(user)
    pages.append(client.get(reverse("home")).content)

    for page in pages:
        for secret in secrets:
            assert secret not in page


def test_error_reports_mask_secrets() -> None:
    # The debug page and error e-mails show settings through this filter, which masks KEY/SECRET names.
    safe = SafeExceptionReporterFilter().get_safe_settings()

    assert safe["SECRET_KEY"] != settings.SECRET_KEY
    assert safe["ESA_ACCESS_KEY_SECRET"] != settings.ESA_ACCESS_KEY_SECRET
