"""Query expressions shared by the apps."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Expression, Field


class RowSQL(Expression):
    """A scalar SQL expression over the current row of the outer query, usually a correlated
    subquery, written once instead of built from querysets.

    A list page annotates each row with a few correlated subqueries (caller IDs, registration
    status). Built as `Subquery(queryset)`, every request creates, resolves and compiles those
    inner querysets again: about a millisecond per page, as much as PostgreSQL takes to run
    the whole rows query. This expression only formats its SQL when compiled.

    `sql(vendor, ops)` returns the SQL text for a database vendor ("postgresql", "sqlite")
    with `{row}` where the outer row's table alias goes and `%s` for each of `params`;
    `ops` is the connection's `ops`, to quote names. A param that is a `(value, field)` pair
    is adapted by the field like a lookup's value would be.
    """

    def __init__(self, sql: Callable[[str, object], str], params: tuple = (), *, output_field: Field):
        super().__init__(output_field=output_field)
        self.sql, self.params = sql, tuple(params)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.sql.__name__}, {self.params!r})"

    def as_sql(self, compiler, connection):
        row = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        params = [
            param[1].get_db_prep_value(param[0], connection) if isinstance(param, tuple) else param
            for param in self.params
        ]
        return self.sql(connection.vendor, connection.ops).format(row=row), params

    def get_group_by_cols(self):
        return [self]
