"""Helpers shared by every app's services."""

from collections.abc import Sequence
from contextlib import contextmanager

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, connection, models


def validation_error_from_integrity(exc: IntegrityError, model: type[models.Model]) -> ValidationError | None:
    """Map a unique/check constraint that the database enforced (e.g. two admins creating the
    same extension at once) back to that constraint's own user-facing message."""
    text = str(exc)
    table = model._meta.db_table
    for constraint in model._meta.constraints:
        fields = getattr(constraint, "fields", ()) or ()
        columns = [model._meta.get_field(name).column for name in fields]
        # PostgreSQL names the constraint; SQLite lists "table.column" of each field instead.
        sqlite_text = ", ".join(f"{table}.{column}" for column in columns)
        if constraint.name in text or (columns and sqlite_text in text):
            field_for = getattr(model, "field_for_constraint", None)
            key = field_for(constraint) if field_for else NON_FIELD_ERRORS
            return ValidationError({key: [constraint.violation_error_message]})
    return None


@contextmanager
def integrity_as_validation(model: type[models.Model]):
    try:
        yield
    except IntegrityError as exc:
        mapped = validation_error_from_integrity(exc, model)
        if mapped is None:
            raise
        raise mapped from exc


def bulk_update_values(
    model: type[models.Model],
    objects: Sequence[models.Model],
    fields: Sequence[str],
    *,
    batch_size: int = 1000,
) -> None:
    """Write `fields` of many rows, each its own values: `UPDATE … FROM (VALUES …)` on
    PostgreSQL. Django's `bulk_update` builds a `CASE WHEN id = … THEN …` expression per row
    and field, which costs about 1 ms of Python per row (10 s for 10,000 rows); this is one
    statement per batch with plain parameters. Other databases use `bulk_update`. Like
    `bulk_update`, it sets no `auto_now` field and sends no signal."""
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields, batch_size=batch_size)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    row = "({})".format(", ".join(f"%s::{field.db_type(connection)}" for field in columns))
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns[1:])
    names = ", ".join(quote(f.column) for f in columns)
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    with connection.cursor() as cursor:
        for start in range(0, len(objects), batch_size):
            batch = objects[start : start + batch_size]
            params = [
                field.get_db_prep_save(getattr(obj, field.attname), connection)
                for obj in batch
                for field in columns
            ]
            # Only quoted identifiers and database types are interpolated; values are parameters.
            values = ", ".join([row] * len(batch))
            sql = f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v ({names}) "  # noqa: S608
            cursor.execute(sql + f"WHERE {table}.{pk} = v.{pk}", params)


def bulk_insert_values(
    model: type[models.Model],
    rows: Sequence[dict],
    *,
    batch_size: int = 1000,
) -> None:
    """INSERT rows given as `{field name or attname: value}` (the same keys in every row), one
    statement per batch, without model instances: Django's `bulk_create` builds, checks and
    prepares an instance per row, which is most of the cost of writing 10,000 audit events.
    Values are adapted by their fields (`get_db_prep_save`) as `bulk_create` does; no default,
    `auto_now` or signal applies, so give every column. Other databases use `bulk_create`."""
    if not rows:
        return
    names = list(rows[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**row) for row in rows], batch_size=batch_size)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in names]
    row = "({})".format(", ".join(["%s"] * len(fields)))
    columns = ", ".join(quote(field.column) for field in fields)
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            params = [
                field.get_db_prep_save(values[name], connection)
                for values in batch
                for name, field in zip(names, fields, strict=True)
            ]
            # Only quoted identifiers are interpolated; values are parameters.
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608
                + ", ".join([row] * len(batch)),
                params,
            )
