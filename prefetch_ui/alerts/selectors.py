"""Reads of the receiver pages."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import AlertHold, Delivery, Receiver

DELIVERIES_SHOWN = 50
ALERT_HOLDS_SHOWN = 50


def receiver_list() -> QuerySet[Receiver]:
    return Receiver.objects.all()


def receiver_deliveries(*, receiver: Receiver) -> list[Delivery]:
    return list(Delivery.objects.filter(receiver=receiver)[:DELIVERIES_SHOWN])


def receiver_alert_holds(*, receiver: Receiver) -> list[AlertHold]:
    holds = AlertHold.objects.filter(receiver=receiver).select_related("site", "incident")
    return list(holds[:ALERT_HOLDS_SHOWN])
