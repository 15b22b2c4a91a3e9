"""What the notification pages read."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from .models import Channel, ChannelKind, Delivery, JobDeadline

DELIVERIES_A_PAGE = 50


def channel_list() -> QuerySet[Channel]:
    return Channel.objects.prefetch_related("sites")


def channel_address(channel: Channel) -> str:
    """Where a channel sends, as a page may show it: the host of a URL (its path and query hold a
    robot's token), the addresses of an e-mail."""
    if channel.kind == ChannelKind.EMAIL:
        return ", ".join(channel.recipient_list)
    host = urlsplit(channel.url).hostname or ""
    return f"{host} (address hidden)" if host else "no address"


def delivery_page(
    *, channel_id: int | None = None, status: str = "", number: int | str = 1
) -> Page[Delivery]:
    deliveries = Delivery.objects.select_related("channel", "event").order_by("-id")
    if channel_id is not None:
        deliveries = deliveries.filter(channel_id=channel_id)
    if status:
        deliveries = deliveries.filter(status=status)
    return Paginator(deliveries, DELIVERIES_A_PAGE).get_page(number)


def job_deadline(*, job_id: int) -> JobDeadline | None:
    return JobDeadline.objects.filter(job_id=job_id).first()
