"""The notification pages: channels made and changed by operators only, a webhook's secret shown in
the answer that made it and never again, no robot URL or secret on any page, in the deliveries
list or in a log line; "send a test", "send again"; a job's deadline set on its page."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from prefetch_ui.notifications.models import Channel, Delivery, DeliveryStatus, EventKind, JobDeadline
from prefetch_ui.notifications.services.outbox import channel_deliveries_send
from prefetch_ui.prefetch.models import Site
from tests.factories import JobFactory
from tests.notifications.receivers import dingtalk_receiver, standard_webhooks_receiver

pytestmark = pytest.mark.django_db

ROBOT_SECRET = "SECrobot-secret-that-must-never-show-0123456789"


def _pages(client: Client, channel: Channel) -> str:
    return "".join(
        client.get(address).content.decode()
        for address in (
            reverse("notification-channels"),
            reverse("notification-channel", args=[channel.pk]),
            reverse("notification-deliveries"),
        )
    )


def test_a_viewer_may_not_see_or_make_channels(viewer_client: Client) -> None:
    assert viewer_client.get(reverse("notification-channels")).status_code == 403
    assert viewer_client.post(reverse("notification-channels"), {"name": "x"}).status_code == 403


def test_secrets_and_robot_urls_never_reach_a_page_or_a_log(
    operator_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with dingtalk_receiver("SECanother") as (url, _received):
        response = operator_client.post(
            reverse("notification-channels"),
            {
                "name": "oncall",
                "kind": "dingtalk",
                "url": url,
                "secret": ROBOT_SECRET,
                "events": [EventKind.TEST],
            },
        )
        assert response.status_code == 400  # "test" is no event to subscribe to
        response = operator_client.post(
            reverse("notification-channels"),
            {
                "name": "oncall",
                "kind": "dingtalk",
                "url": url,
                "secret": ROBOT_SECRET,
                "events": [EventKind.HOLD_OPENED],
            },
        )
        assert response.status_code == 201
        channel = Channel.objects.get()
        operator_client.post(reverse("notification-channel-test", args=[channel.pk]))
        channel_deliveries_send(channel_id=channel.pk)  # refused: the robot has another secret
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.answer_code) == (DeliveryStatus.FAILED, "200 errcode 310000")
    shown = _pages(operator_client, channel) + response.content.decode()
    assert "200 errcode 310000" in shown and "127.0.0.1 (address hidden)" in shown
    for secret in (ROBOT_SECRET, "robot-token", url):
        assert secret not in shown
        assert secret not in caplog.text
        assert secret not in delivery.error


def test_a_webhook_secret_is_shown_once_and_rotation_shows_the_new_one_once(operator_client: Client) -> None:
    response = operator_client.post(
        reverse("notification-channels"),
        {
            "name": "hook",
            "kind": "webhook",
            "url": "https://hooks.example.com/x",
            "events": [EventKind.HOLD_OPENED],
        },
    )
    channel = Channel.objects.get()
    assert channel.secret.startswith("whsec_") and channel.secret in response.content.decode()
    assert channel.secret not in _pages(operator_client, channel)
    old = channel.secret
    rotated = operator_client.post(reverse("notification-channel-rotate", args=[channel.pk])).content.decode()
    channel.refresh_from_db()
    assert channel.secret != old and channel.secret in rotated and old not in rotated
    assert channel.previous_secret == old
    assert channel.secret not in _pages(operator_client, channel)


def test_bad_channel_input_is_refused_with_the_field_named_and_nothing_made(operator_client: Client) -> None:
    cases = [
        ({"kind": "slack", "url": "", "events": [EventKind.HOLD_OPENED]}, "needs its URL"),
        ({"kind": "slack", "url": "ftp://x", "events": [EventKind.HOLD_OPENED]}, "must start with https://"),
        (
            {"kind": "email", "recipients": "not an address", "events": [EventKind.HOLD_OPENED]},
            "is not an e-mail",
        ),
        (
            {"kind": "webhook", "url": "https://x", "secret": "nope", "events": [EventKind.HOLD_OPENED]},
            "whsec_",
        ),
        ({"kind": "slack", "url": "https://x\x00", "events": [EventKind.HOLD_OPENED]}, "Null characters"),
    ]
    for fields, says in cases:
        response = operator_client.post(reverse("notification-channels"), {"name": "c", **fields})
        assert response.status_code == 400 and says in response.content.decode(), says
    assert not Channel.objects.exists()


def test_send_again_puts_a_failed_delivery_back_in_its_place(operator_client: Client) -> None:
    secrets: list[str] = []
    with standard_webhooks_receiver(secrets) as (url, received):
        operator_client.post(
            reverse("notification-channels"),
            {"name": "hook", "kind": "webhook", "url": url, "events": [EventKind.HOLD_OPENED]},
        )
        channel = Channel.objects.get()
        operator_client.post(reverse("notification-channel-test", args=[channel.pk]))
        channel_deliveries_send(channel_id=channel.pk)  # the receiver does not know the secret yet
        delivery = Delivery.objects.get()
        Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
        secrets.append(channel.secret)
        answer = operator_client.post(reverse("notification-delivery-again", args=[delivery.pk]))
        assert answer.status_code == 302
        channel_deliveries_send(channel_id=channel.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert [got["payload"]["type"] for got in received.accepted] == ["test"]


def test_a_job_deadline_is_set_on_its_page(operator_client: Client, site: Site) -> None:
    job = JobFactory.create(site=site)
    page = operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    assert 'data-testid="job-deadline"' in page
    operator_client.post(reverse("job-deadline", args=[job.esa_id]), {"deadline": "2030-01-02T03:04"})
    deadline = JobDeadline.objects.get(job=job)
    assert deadline.deadline.year == 2030
    assert "must be done by" in operator_client.get(reverse("job-detail", args=[job.esa_id])).content.decode()
    operator_client.post(reverse("job-deadline", args=[job.esa_id]), {"deadline": ""})
    assert not JobDeadline.objects.exists()


def test_an_email_channel_needs_a_mail_server(operator_client: Client, settings: Settings) -> None:
    fields = {
        "name": "mail",
        "kind": "email",
        "recipients": "oncall@example.com",
        "events": [EventKind.PLAN_FAILED],
    }
    refused = operator_client.post(reverse("notification-channels"), fields)
    assert refused.status_code == 400 and "E-mail is not set up on this server" in refused.content.decode()
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert operator_client.post(reverse("notification-channels"), fields).status_code == 201
    assert Channel.objects.get().recipient_list == ["oncall@example.com"]
