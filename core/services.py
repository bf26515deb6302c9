"""Helpers shared by every app's services."""

from collections.abc import Callable
from contextlib import contextmanager

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models


def validation_error_from_integrity(
    exc: IntegrityError, model: type[models.Model]
) -> ValidationError | None:
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


def merge_errors(*checks: Callable[[], None]) -> None:
    """Run every check and raise one ValidationError holding all of their errors."""
    collected: ValidationError | None = None
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            collected = exc if collected is None else ValidationError(
                _merge(collected.update_error_dict({}), exc.update_error_dict({}))
            )
    if collected is not None:
        raise collected


def _merge(a: dict, b: dict) -> dict:
    for key, errors in b.items():
        a.setdefault(key, []).extend(errors)
    return a
