"""Scan cursors shared by the scan's sources (`ScanCursor` rows, one per source)."""

from __future__ import annotations

from datetime import datetime

from ..models import ScanCursor

__all__ = ["period_due"]


def period_due(*, name: str, now: datetime, period: float) -> bool:
    """Whether the source `name`, read every `period` seconds rather than every scan, is due now;
    if so its cursor moves to `now`. The first scan reads it at once."""
    cursor, created = ScanCursor.objects.get_or_create(name=name, defaults={"at": now})
    if created:
        return True
    if cursor.at and (now - cursor.at).total_seconds() < period:
        return False
    ScanCursor.objects.filter(pk=cursor.pk).update(at=now)
    return True
