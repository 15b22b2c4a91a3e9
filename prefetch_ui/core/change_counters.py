"""Taking the next value of a change counter (a site's, an incident's) in one statement.

A change counter is a row's `version` column that every writer of what a polled page shows moves
first in its transaction (see `prefetch_ui.prefetch.services.changes`): the row is then held until
the commit, so that versions are handed out in commit order. Every statement between taking it and
the commit is time the next writer of the same page waits, so it is taken with UPDATE ... RETURNING
(SQLite 3.35+ and PostgreSQL alike): one round trip, not an UPDATE and a SELECT.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import models, transaction


def counter_next(model: type[models.Model], pk: int, *, also: Collection[str] = ()) -> int:
    """Move `model`'s row `pk` to its next `version` and return it, in the caller's transaction
    (which it requires); the columns in `also` are set to the same new value in the same statement."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("a change version is taken in the transaction that writes the change")
    quote = connection.ops.quote_name
    # Every right-hand side reads the row as it was: `also` columns get the new version too.
    assignments = ", ".join(f"{quote(column)} = {quote('version')} + 1" for column in ("version", *also))
    statement = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments}"  # noqa: S608 - names from the model
        f" WHERE {quote(model._meta.pk.column)} = %s RETURNING {quote('version')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [pk])
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"no {model._meta.model_name} {pk}")  # type: ignore[attr-defined]
    return int(row[0])


__all__ = ["counter_next"]
