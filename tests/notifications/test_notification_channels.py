"""Each channel against a real receiver that checks it as the real one does: Standard Webhooks
verified by the `standardwebhooks` library (and through a secret's rotation), DingTalk's and Lark's
signing schemes with their `errcode`/`code` answers (a 200 that refuses is not a delivery), Slack's
`ok`, and e-mail to a real SMTP server."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django import Settings

from prefetch_ui.notifications.models import ChannelKind, Delivery, DeliveryStatus, EventKind
from prefetch_ui.notifications.services.channels import channel_create, channel_secret_rotate
from prefetch_ui.notifications.services.outbox import channel_deliveries_send, event_record
from prefetch_ui.prefetch.models import Site
from tests.notifications.receivers import (
    dingtalk_receiver,
    lark_receiver,
    slack_receiver,
    smtp_receiver,
    standard_webhooks_receiver,
)

pytestmark = pytest.mark.django_db

DINGTALK_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
LARK_SECRET = "lark-signing-secret-0123"


def _record(key: str = "incident:1:opened", site: Site | None = None) -> None:
    event_record(
        key=key,
        kind=EventKind.HOLD_OPENED,
        title="Hold of example.com opened",
        data={"scope": "example.com", "reason": "origin down", "by": "operator", "path": "/incidents/1/"},
        site=site,
    )


def _channel(kind: str, url: str = "", secret: str = "", recipients: str = "") -> tuple[int, str]:
    channel, made = channel_create(
        user=None,
        name=f"{kind} channel",
        kind=kind,
        url=url,
        secret=secret,
        recipients=recipients,
        events=[EventKind.HOLD_OPENED],
        sites=[],
    )
    return channel.pk, made


def test_a_webhook_is_signed_as_standard_webhooks_says_and_verified_by_its_library() -> None:
    secrets: list[str] = []
    with standard_webhooks_receiver(secrets) as (url, received):
        channel_id, secret = _channel(ChannelKind.WEBHOOK, url)
        secrets.append(secret)
        assert secret.startswith("whsec_")
        _record()
        assert channel_deliveries_send(channel_id=channel_id) == 1
    (got,) = received.accepted
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.answer_code) == (DeliveryStatus.DELIVERED, 1, "204")
    assert got["payload"]["type"] == "hold.opened"
    assert got["payload"]["data"]["title"] == "Hold of example.com opened"
    assert got["payload"] == delivery.payload
    assert got["headers"]["webhook-id"] == delivery.message_id
    assert got["headers"]["webhook-signature"].startswith("v1,")


def test_a_rotated_secret_signs_beside_the_old_one_during_its_grace() -> None:
    secrets: list[str] = []
    with standard_webhooks_receiver(secrets) as (url, received):
        channel_id, old = _channel(ChannelKind.WEBHOOK, url)
        from prefetch_ui.notifications.models import Channel

        new = channel_secret_rotate(channel=Channel.objects.get(pk=channel_id))
        secrets.append(old)  # a receiver that still knows only the old secret
        _record("a")
        channel_deliveries_send(channel_id=channel_id)
        secrets[:] = [new]  # one that moved to the new one
        _record("b")
        channel_deliveries_send(channel_id=channel_id)
    assert [got["secret"] for got in received.accepted] == [old, new]
    assert len(received.accepted[0]["headers"]["webhook-signature"].split(" ")) == 2
    assert received.refused == []


def test_a_wrong_webhook_secret_is_a_failure_retried_later() -> None:
    with standard_webhooks_receiver(["whsec_" + "QUFB" * 11]) as (url, received):
        channel_id, _ = _channel(ChannelKind.WEBHOOK, url)
        _record()
        assert channel_deliveries_send(channel_id=channel_id) == 0
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.answer_code) == (DeliveryStatus.PENDING, 1, "401")
    assert delivery.next_attempt_at > delivery.created_at
    assert received.refused == ["no matching signature"]


def test_dingtalk_signs_in_the_query_and_only_errcode_0_is_delivered() -> None:
    with dingtalk_receiver(DINGTALK_SECRET) as (url, received):
        channel_id, _ = _channel(ChannelKind.DINGTALK, url, DINGTALK_SECRET)
        _record("a")
        assert channel_deliveries_send(channel_id=channel_id) == 1
        assert received.accepted[0]["payload"]["msgtype"] == "text"
        assert "Hold of example.com opened" in received.accepted[0]["payload"]["text"]["content"]

        received.refuse_with = 130101  # "send too fast": a 200 that refuses, to retry
        _record("b")
        assert channel_deliveries_send(channel_id=channel_id) == 0
        b = Delivery.objects.get(event__key="b")
        assert (b.status, b.answer_code) == (DeliveryStatus.PENDING, "200 errcode 130101")
        assert "send too fast" in b.error


def test_dingtalk_refusing_the_signature_is_reported_failed_not_retried() -> None:
    with dingtalk_receiver(DINGTALK_SECRET) as (url, received):
        channel_id, _ = _channel(ChannelKind.DINGTALK, url, "SECnot-the-robots-secret")
        _record()
        channel_deliveries_send(channel_id=channel_id)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.answer_code) == (DeliveryStatus.FAILED, "200 errcode 310000")
    assert "sign not match" in delivery.error
    assert received.refused == ["sign not match"]


@pytest.mark.parametrize("old_style", [False, True])
def test_lark_signs_in_the_body_and_only_code_0_is_delivered(old_style: bool) -> None:
    with lark_receiver(LARK_SECRET, old_style=old_style) as (url, received):
        channel_id, _ = _channel(ChannelKind.LARK, url, LARK_SECRET)
        _record("a")
        assert channel_deliveries_send(channel_id=channel_id) == 1
        (payload,) = received.accepted
        assert payload["msg_type"] == "text" and "Hold of example.com opened" in payload["content"]["text"]
        received.refuse_with = 9499
        _record("b")
        channel_deliveries_send(channel_id=channel_id)
    b = Delivery.objects.get(event__key="b")
    assert (b.status, b.answer_code) == (DeliveryStatus.PENDING, "200 code 9499")


def test_lark_refusing_the_signature_is_reported_failed() -> None:
    with lark_receiver(LARK_SECRET) as (url, _received):
        channel_id, _ = _channel(ChannelKind.LARK, url, "another-secret")
        _record()
        channel_deliveries_send(channel_id=channel_id)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.answer_code) == (DeliveryStatus.FAILED, "200 code 19021")


def test_slack_is_delivered_when_it_answers_ok() -> None:
    with slack_receiver() as (url, received):
        channel_id, _ = _channel(ChannelKind.SLACK, url)
        _record()
        assert channel_deliveries_send(channel_id=channel_id) == 1
    assert received.accepted[0]["text"].startswith("[prefetch_ui] Hold of example.com opened")


def test_email_reaches_a_real_smtp_server(settings: Settings) -> None:
    with smtp_receiver() as (port, mailbox):
        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
            }
        }
        settings.DEFAULT_FROM_EMAIL = "prefetch@example.com"
        channel_id, _ = _channel(ChannelKind.EMAIL, recipients="oncall@example.com\nlead@example.com")
        _record()
        assert channel_deliveries_send(channel_id=channel_id) == 1
    (message,) = mailbox
    assert message["Subject"] == "[prefetch_ui] Hold of example.com opened"
    assert message["To"] == "oncall@example.com, lead@example.com"
    assert message["X-Prefetch-Event"] == "hold.opened"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes) and b"Reason: origin down" in body


def test_channels_subscribe_to_kinds_and_sites(site: Site) -> None:
    other = Site.objects.create(esa_id=999, name="other.example", synced_at=site.synced_at)
    everything, _ = channel_create(
        user=None,
        name="all",
        kind=ChannelKind.SLACK,
        url="http://127.0.0.1:9/x",
        events=[EventKind.HOLD_OPENED],
        sites=[],
    )
    only_other, _ = channel_create(
        user=None,
        name="other",
        kind=ChannelKind.SLACK,
        url="http://127.0.0.1:9/x",
        events=[EventKind.HOLD_OPENED],
        sites=[other],
    )
    plans_only, _ = channel_create(
        user=None,
        name="plans",
        kind=ChannelKind.SLACK,
        url="http://127.0.0.1:9/x",
        events=[EventKind.PLAN_FAILED],
        sites=[],
    )
    _record("on-site", site=site)
    _record("nowhere")
    assert sorted(Delivery.objects.values_list("channel__name", "event__key")) == [
        ("all", "nowhere"),
        ("all", "on-site"),
        ("other", "nowhere"),
    ]
    assert not Delivery.objects.filter(channel__in=[plans_only]).exists()
    assert everything.pk and only_other.pk


def test_an_event_is_recorded_once_whatever_how_often_it_is_seen(client: Client) -> None:
    channel_create(
        user=None,
        name="all",
        kind=ChannelKind.SLACK,
        url="http://127.0.0.1:9/x",
        events=[EventKind.HOLD_OPENED],
        sites=[],
    )
    _record()
    _record()
    assert Delivery.objects.count() == 1


def test_nul_characters_from_esa_or_a_receiver_are_taken_out_before_they_are_written() -> None:
    channel_create(
        user=None,
        name="all",
        kind=ChannelKind.SLACK,
        url="http://127.0.0.1:9/x",
        events=[EventKind.PLAN_FAILED],
        sites=[],
    )
    event_record(
        key="plan:\x00x:failed",
        kind=EventKind.PLAN_FAILED,
        title="bad\x00title",
        data={"error_message": "a\x00b"},
    )
    delivery = Delivery.objects.get()
    assert (delivery.event.key, delivery.event.title, delivery.event.data["error_message"]) == (
        "plan:x:failed",
        "badtitle",
        "ab",
    )
