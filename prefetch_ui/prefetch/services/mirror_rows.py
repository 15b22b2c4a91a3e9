"""How ESA's objects become rows of the mirror, and which of two writes of a row wins.

ESA is the source of truth for sites, jobs and plans. Each model has one table below that maps
its fields to the ESA client's attributes; the sync and the operations both write through it, so
a field added to the mirror is added once. The writers (`mirror_writes`) compare ESA's values with
the mirror's and write only the rows that differ, stamped with their site's next change version
(`changes.py`): a sync that finds nothing new writes nothing, and a page polling the mirror hears
of nothing.

A read of ESA can be overtaken: a sync reads a job's plans, a drainer stops one and writes ESA's
answer, then the sync writes what it read, the plan running. So every write of a job or plan row
records its basis, the moment of ESA's state it reflects (`mirror_basis`), and the writers compare
bases under the site's row lock before they write: a write based on an older state than a row's
leaves that row alone (and does not delete it), while the rest of what it brings goes in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Model, QuerySet
from django.utils import timezone

from ..models import Job, Plan, Site

# Model field -> attribute of the ESA client's type. `synced_at` and the links (a job's site, a
# plan's job) are set by the writer, not read from ESA.
SITE_FIELDS = {
    "esa_id": "site_id",
    "name": "site_name",
    "status": "status",
    "plan_name": "plan_name",
    "coverage": "coverage",
    "access_type": "access_type",
    "esa_created_at": "created_at",
}
JOB_FIELDS = {
    "esa_id": "id",
    "name": "name",
    "insert_way": "insert_way",
    "task_type": "task_type",
    "url_count": "url_count",
    "url_submitted": "url_submitted",
    "task_submitted": "task_submitted",
    "domains": "domains",
    "error_info": "error_info",
    "file_id": "file_id",
    "failed_file_oss": "failed_file_oss",
    "ali_uid": "ali_uid",
    "esa_created_at": "created_at",
    "execution_count": "execution_count",
}
PLAN_FIELDS = {
    "esa_id": "id",
    "start_time": "start_time",
    "end_time": "end_time",
    "interval": "interval",
    "slice_len": "slice_len",
    "status": "status",
    "ali_uid": "ali_uid",
}


class UnstorableValueError(ValueError):
    """A value from ESA that its mirror column cannot hold without changing what it says: an id longer
    than the column, a number out of the column's range."""


def mirror_values(*, esa_object: object, model: type[Model], fields: dict[str, str]) -> dict[str, object]:
    return {name: _fitted(model, name, getattr(esa_object, attribute)) for name, attribute in fields.items()}


def _fitted(model: type[Model], name: str, value: object) -> object:
    """`value` as the column `model.name` can hold it, on every database alike.

    SQLite keeps any text and any 64-bit number in any column; PostgreSQL refuses what does not fit
    (a NUL never reaches here: the ESA client replaces it). Text too long for its column is cut, with
    an ellipsis, unless the column identifies something (an ESA id): that, and a number out of range,
    raise UnstorableValueError, which fails the sync of that site alone.
    """
    field = model._meta.get_field(name)
    if isinstance(value, str):
        limit = getattr(field, "max_length", None)
        if limit is None or len(value) <= limit:
            return value
        if getattr(field, "unique", False):
            raise UnstorableValueError(
                f"ESA sent a {model.__name__.lower()} {name} of {len(value)} characters (at most {limit}"
                f" fit): {value[:40]!r}{'…' if len(value) > 40 else ''}"
            )
        return value[: limit - 1] + "…"
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = BaseDatabaseOperations.integer_field_ranges.get(field.get_internal_type(), (None, None))
        if (low is not None and value < low) or (high is not None and value > high):
            raise UnstorableValueError(
                f"ESA sent a {model.__name__.lower()} {name} of {value}, outside {low}..{high}"
            )
    return value


def rows_by_esa_id(
    *, rows: QuerySet[Any], fields: dict[str, str], extra: Sequence[str] = ()
) -> dict[Any, dict[str, Any]]:
    """The mirror's rows by ESA id, with what ESA writes in them: to tell what ESA changed."""
    return {row["esa_id"]: row for row in rows.values("pk", *fields, *extra)}


def row_differs(*, row: Mapping[str, object] | None, values: Mapping[str, object]) -> bool:
    return row is None or any(row[field] != value for field, value in values.items())


def rows_upsert[M: (Site, Job, Plan)](
    *,
    model: type[M],
    fields: dict[str, str],
    esa_objects: Iterable[object],
    now: datetime,
    stamp: Mapping[str, object] = MappingProxyType({}),
    **links: object,
) -> None:
    """Insert or update mirror rows from ESA objects, keyed by ESA id, with the fields in `stamp`
    (the change versions, the basis)."""
    rows = [
        model(**mirror_values(esa_object=item, model=model, fields=fields), **links, **stamp, synced_at=now)
        for item in esa_objects
    ]
    if rows:
        model.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["esa_id"],
            update_fields=[*(name for name in fields if name != "esa_id"), *links, *stamp, "synced_at"],
            batch_size=500,
        )


# `site_lock`'s answer for a site no longer in the mirror (distinct from a basis that is None).
SITE_GONE: Any = object()


def site_lock(*, site_id: int) -> datetime | None:
    """Lock the site's row for the rest of the caller's transaction; its jobs' listing basis.

    Every writer of a site's jobs and plans takes this row first (`changes.site_version_next`), so
    what the caller reads of them after this is what it writes over: no other write slips between
    the comparison of bases and the write (PostgreSQL, READ COMMITTED: the next statement sees every
    write committed before the lock was granted; SQLite: the IMMEDIATE transaction holds the
    database's write lock already).
    """
    row = Site.objects.select_for_update().filter(pk=site_id).values("jobs_esa_state_at").first()
    return SITE_GONE if row is None else row["jobs_esa_state_at"]


def based_before(*, basis: datetime, row: Mapping[str, Any] | None, listed_at: datetime | None) -> bool:
    """Whether a write based on ESA's state at `basis` is older than what the mirror shows of a row:
    its own basis, or the basis of the last complete listing that stands for it (for a row that is
    not there: the listing that did not have it). Equal bases write (see `mirror_basis`)."""
    known = [at for at in (row["esa_state_at"] if row else None, listed_at) if at is not None]
    return any(basis < at for at in known)


def mirror_basis() -> datetime:
    """The basis of a write into the mirror: what ESA state the values written reflect, as a point
    in time on our clock. Every write of a job or plan row records it, and a write whose basis is
    older than the row's leaves that row alone.

    - ESA's answer to an action (start, stop, update, create, reset): the moment the answer was
      received. ESA applied the action before answering, so the state it answers with held at
      that moment at least; a later change in ESA makes a later basis.
    - A read (a listing): the moment its request was sent, taken just before sending. ESA answers
      from its state at some moment after it got the request, so after we sent it: any action
      whose answer was received before then is in the listing. An action answered after the
      request went out may or may not be (ESA may have read its state before applying it), so the
      listing, being based earlier, loses to that answer: the mirror keeps the answer, which is
      never older than what the listing might show. What the listing alone saw (a plan finished,
      or started in the console) comes in at the next listing.

    Equal bases: the later write wins (with the strict order above an answer received at the
    moment a listing was sent is in that listing). The points come from the clocks of the
    processes that write (one host in the compose deployment); they must agree to better than an
    ESA round trip, which NTP gives.
    """
    return timezone.now()
