"""Queries and conditions that the hottest polls run, compiled to SQL once per database.

A correlated boolean subquery (an `Exists` over another table, around one column of the rows it
is asked of) compiled once, then placed in any query as a plain expression (`precompiled_condition`);
a whole query compiled once with one parameter left to fill (`precompiled_query`).

Django builds, resolves and compiles a subquery every time a query that holds it is run: for the
plans a hold holds (`prefetch.selectors.statuses.plan_is_held`), which every page that counts
plans asks, that cost a poll more than running it. The SQL a subquery compiles to does not change
between queries, only the outer column it compares with: that column stays an ORM expression
(resolved and relabelled like any other, also inside a subquery), and the subquery's own table
aliases are renamed so that they cannot meet the aliases of a query around it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Expression, F, Model, OuterRef, QuerySet, Value
from django.db.models.expressions import BaseExpression
from django.db.models.query import RawQuerySet
from django.db.models.sql.compiler import SQLCompiler
from django.utils.dateparse import parse_datetime

# Django names a subquery's tables U0, U1, …; renamed so that they are unique in any query.
_SUBQUERY_ALIAS = re.compile(r'"U(\d+)"')


class PrecompiledCondition(Expression):
    """`before` + the outer column + `after`, with their parameters: a boolean SQL condition."""

    conditional = True

    def __init__(
        self,
        outer: Any,
        *,
        before: str,
        after: str,
        before_params: Sequence[Any],
        after_params: Sequence[Any],
    ) -> None:
        super().__init__(output_field=BooleanField())
        self.outer = outer
        self.before, self.after = before, after
        self.before_params, self.after_params = tuple(before_params), tuple(after_params)

    def get_source_expressions(self) -> list[Any]:
        return [self.outer]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.outer,) = exprs

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.outer)
        return f"{self.before}{column}{self.after}", (*self.before_params, *params, *self.after_params)


def precompiled_condition(
    *, model: type[Model], field: str, build: Callable[[OuterRef], BaseExpression], name: str
) -> Expression:
    """`build(OuterRef(field))` (a boolean subquery over rows of `model`, or a `Value`) as a
    `PrecompiledCondition` over `F(field)`, compiled for the default database; `name` makes its
    tables' aliases unique. Cache the answer: compiling is what it saves."""
    built = build(OuterRef(field))
    if isinstance(built, Value):
        return built
    query = model._default_manager.annotate(_condition=built).query
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.compile(query.annotations["_condition"])
    column, column_params = compiler.compile(query.resolve_ref(field))
    if column_params or sql.count(column) != 1:
        raise ValueError(f"cannot precompile {name}: the outer column {column} is not in it once: {sql}")
    before, after = sql.split(column)
    split = before.count("%s")
    rename = rf'"{name}_U\1"'
    return PrecompiledCondition(
        F(field),
        before=_SUBQUERY_ALIAS.sub(rename, before),
        after=_SUBQUERY_ALIAS.sub(rename, after),
        before_params=params[:split],
        after_params=params[split:],
    )


@dataclass(frozen=True, slots=True)
class PrecompiledQuery:
    """A query compiled to SQL once, with parameters left to fill by name: run as model instances
    (`raw`: its model's fields come back converted as the ORM converts them, an annotation as the
    database answers it, on SQLite a time as text: `db_datetime`), or as rows (`rows`: values as
    the database answers them)."""

    model: type[Model]
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[str, tuple[int, ...]], ...]  # each name, and where its value goes

    def _params(self, values: dict[str, Any]) -> list[Any]:
        params = list(self.params)
        for name, indexes in self.slots:
            for index in indexes:
                params[index] = values[name]
        return params

    def raw(self, **values: Any) -> RawQuerySet[Any]:
        return self.model._default_manager.raw(self.sql, self._params(values))

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self._params(values))
            return list(cursor.fetchall())


def precompiled_query(queryset: QuerySet[Any], **slots: Any) -> PrecompiledQuery:
    """`queryset`, built with a placeholder value for each parameter to fill (`slots`, by name:
    values no real query holds), compiled for the default database. Cache the answer: compiling
    is what it saves."""
    sql, params = queryset.query.sql_with_params()
    where: list[tuple[str, tuple[int, ...]]] = []
    for name, placeholder in slots.items():
        indexes = tuple(index for index, param in enumerate(params) if param == placeholder)
        if not indexes:
            raise ValueError(f"cannot precompile: {name} ({placeholder!r}) is no parameter of {sql}")
        where.append((name, indexes))
    return PrecompiledQuery(model=queryset.model, sql=sql, params=tuple(params), slots=tuple(where))


def db_datetime(value: datetime | str | None) -> datetime | None:
    """A time as a raw query's annotation gives it: SQLite's text (UTC, as Django stores it), or
    the datetime PostgreSQL gives."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a time: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
