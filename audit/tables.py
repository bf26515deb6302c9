"""The audit trail as a person reads it: field labels instead of field names, choices by their
label (`Quyền gọi: Di động → Cố định`, not `call_permission: 3 → 2`), extensions and hotlines
by their numbers instead of database ids, times in the one date format.

New rows already hold numbers and names for relations (extensions.services.batch); rows written
before hold ids, resolved here with one query per related model for the whole page, whatever
its size. Presentation code: it may read any app's models (through the app registry)."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import AuditEvent
from .services import REDACTED

# What names a related row for people; anything else shows as str(row).
SHOWN_AS = {"extensions.extension": "number", "hotlines.hotline": "number", "hotlines.numbergroup": "name"}
# Keys of `changes` that are no model field.
EXTRA_LABELS = {
    "password": gettext_lazy("Password"),
    "supervised": gettext_lazy("Supervised extensions"),
    "share_link": gettext_lazy("Share link"),
    "expires_at": gettext_lazy("Expires"),
    "with_passwords": gettext_lazy("With passwords"),
    "count": gettext_lazy("Number of extensions"),
    "file": gettext_lazy("File"),
    "admin": gettext_lazy("Administrator"),
    "hotlines": gettext_lazy("Hotlines"),
}
EMPTY = "—"


@dataclass(frozen=True)
class Change:
    label: str
    old: str
    new: str
    secret: bool = False  # a secret changed: only that it changed is shown


def _model(object_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(object_type) if object_type else None
    except (LookupError, ValueError):
        return None


def _field(model: type[models.Model] | None, name: str) -> models.Field | None:
    if model is None:
        return None
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.Field) else None


def _ids(value: Any) -> list[int]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _names_of_related(events: Sequence[AuditEvent]) -> dict[str, dict[int, str]]:
    """{related model label: {id: what people call it}} for every id the events' changes hold:
    one query per related model."""
    wanted: dict[type[models.Model], set[int]] = defaultdict(set)
    for event in events:
        model = _model(event.object_type)
        for name, pair in (event.changes or {}).items():
            field = _field(model, name)
            if field is not None and field.is_relation and field.related_model is not None:
                related = field.related_model
                assert isinstance(related, type)
                for value in pair if isinstance(pair, list) else []:
                    wanted[related].update(_ids(value))
    names: dict[str, dict[int, str]] = {}
    for related, pks in wanted.items():
        label = related._meta.label_lower
        attribute = SHOWN_AS.get(label)
        rows = related._default_manager.filter(pk__in=pks)
        if attribute:
            names[label] = {pk: str(shown) for pk, shown in rows.values_list("pk", attribute)}
        else:
            names[label] = {row.pk: str(row) for row in rows}
    return names


def _label(model, name: str) -> str:
    field = _field(model, name)
    if field is not None:
        return str(capfirst(field.verbose_name))
    if name in EXTRA_LABELS:
        return str(EXTRA_LABELS[name])
    return str(capfirst(name.replace("_", " ")))


def _shown(value: Any, field: models.Field | None, names: dict[str, dict[int, str]]) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, list):
        return ", ".join(_shown(v, field, names) for v in value)
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if field is not None and field.is_relation and field.related_model is not None:
        if isinstance(value, int):  # written before relations were stored by name: an id
            related = field.related_model
            assert isinstance(related, type)
            return names.get(related._meta.label_lower, {}).get(value, f"#{value}")
        return str(value)
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        moment = parse_datetime(value)
        if isinstance(moment, datetime):
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            return date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    return str(value)


def readable_changes(event: AuditEvent, names: dict[str, dict[int, str]]) -> list[Change]:
    model = _model(event.object_type)
    changes = []
    for name, pair in (event.changes or {}).items():
        label = _label(model, name)
        if not isinstance(pair, list) or len(pair) != 2:
            changes.append(Change(label, EMPTY, _shown(pair, None, names)))
        elif REDACTED in pair:
            changes.append(Change(label, "", "", secret=True))
        else:
            field = _field(model, name)
            changes.append(Change(label, _shown(pair[0], field, names), _shown(pair[1], field, names)))
    return changes


def with_readable_changes(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """The events, each with `readable` (a list of Change) set: one query per related model."""
    events = list(events)
    names = _names_of_related(events)
    for event in events:
        event.readable = readable_changes(event, names)  # type: ignore[attr-defined]
    return events
