"""Password reset: off (404, no link) unless e-mail is configured; on, the whole way from the login page
to logging in with the new password."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from tests.test_settings import settings_from

pytestmark = pytest.mark.django_db

RESET_PAGES = [
    "/accounts/password_reset/",
    "/accounts/password_reset/done/",
    "/accounts/reset/MQ/set-password/",
    "/accounts/reset/done/",
]


@pytest.fixture
def olga(settings: Settings) -> User:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_user("olga", email="olga@example.com", password="the-old-password-1")


@pytest.fixture
def email_on(settings: Settings) -> None:
    """As DJANGO_EMAIL_HOST would have it, the mail going to django.core.mail.outbox."""
    settings.PREFETCH_PASSWORD_RESET = True
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def test_without_email_there_is_no_password_reset(client: Client, settings: Settings) -> None:
    assert settings.PREFETCH_PASSWORD_RESET is False  # the tests' environment has no DJANGO_EMAIL_HOST

    assert "password_reset" not in client.get(reverse("login")).content.decode()
    for url in RESET_PAGES:
        assert client.get(url).status_code == 404, url
    assert client.post(RESET_PAGES[0], {"email": "olga@example.com"}).status_code == 404
    assert mail.outbox == []


@pytest.mark.usefixtures("email_on")
def test_with_email_a_forgotten_password_is_reset_by_a_link(client: Client, olga: User) -> None:
    login_page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}"' in login_page

    response = client.post(reverse("password_reset"), {"email": "olga@example.com"}, follow=True)
    assert "a link to choose a new password is on its way" in response.content.decode()
    (message,) = mail.outbox
    assert message.to == ["olga@example.com"]
    assert message.subject == "Your password on prefetch_ui (testserver)"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", str(message.body))
    assert link is not None, message.body

    # The link leads (through Django's redirect that hides the token) to the new password form.
    form_page = client.get(link.group(1), follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-brand-new-secret-42", "new_password2": "a-brand-new-secret-42"},
        follow=True,
    )
    assert "Your password is set" in done.content.decode()

    answer = Client().post(reverse("login"), {"username": "olga", "password": "a-brand-new-secret-42"})
    assert (answer.status_code, answer["Location"]) == (302, reverse("home"))
    # A used link does not work twice.
    assert "This link does not work" in client.get(link.group(1), follow=True).content.decode()


@pytest.mark.usefixtures("email_on")
def test_an_unknown_address_gets_the_same_answer_and_no_mail(client: Client, olga: User) -> None:
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)

    assert "a link to choose a new password is on its way" in response.content.decode()
    assert mail.outbox == []


# -- the settings that turn it on --------------------------------------------------------------------


def test_email_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    password_file = tmp_path / "smtp_password"
    password_file.write_text("smtp-secret\n")

    without = settings_from(monkeypatch)
    assert without["PREFETCH_PASSWORD_RESET"] is False
    assert "MAILERS" not in without  # nothing sends mail
    loaded = settings_from(
        monkeypatch,
        DJANGO_EMAIL_HOST="smtp.example.com",
        DJANGO_EMAIL_HOST_USER="prefetch",
        DJANGO_EMAIL_HOST_PASSWORD_FILE=str(password_file),
        DJANGO_DEFAULT_FROM_EMAIL="prefetch@example.com",
    )

    assert loaded["PREFETCH_PASSWORD_RESET"] is True
    assert loaded["MAILERS"] == {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "smtp.example.com",
                "port": 587,
                "username": "prefetch",
                "password": "smtp-secret",
                "use_tls": True,
                "use_ssl": False,
                "timeout": 10,
            },
        }
    }
    assert loaded["DEFAULT_FROM_EMAIL"] == "prefetch@example.com"


def test_implicit_tls_moves_the_default_port(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_from(
        monkeypatch,
        DJANGO_EMAIL_HOST="smtp.example.com",
        DJANGO_EMAIL_USE_SSL="true",
        DJANGO_DEFAULT_FROM_EMAIL="prefetch@example.com",
    )

    options = loaded["MAILERS"]["default"]["OPTIONS"]
    assert (options["port"], options["use_ssl"], options["use_tls"]) == (465, True, False)


def test_email_without_a_sender_stops_the_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEFAULT_FROM_EMAIL must be set"):
        settings_from(monkeypatch, DJANGO_EMAIL_HOST="smtp.example.com")
