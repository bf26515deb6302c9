"""The call history's table rows, built in Python as the extension list's are (see
extensions/tables.py for the measurement: a template loop costs ~150 µs a row of this size).

Rows come from `sip.history.CALL_COLUMNS` (`.values()` tuples: no model instances), every value
from the database is escaped with `html.escape`, labels are translated once per page, and the
start time is formatted with the active language's SHORT_DATETIME_FORMAT in the current time
zone, as the `date` filter would.
"""

import datetime as dt
from collections.abc import Callable, Iterable
from html import escape

from django.utils import dateformat, formats, timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from .choices import CallDirection, Disposition

ROW = (
    "<tr><td>{started}</td><td>{caller}</td><td>{callee}</td><td>{direction}</td><td>{caller_id}</td>"
    '<td><span class="badge disposition-{disposition} {badge}">{result}</span>{notes}</td>'
    "<td>{duration}</td></tr>"
)
BADGES = {
    Disposition.ANSWERED: "text-bg-success",
    Disposition.REFUSED: "text-bg-danger",
    Disposition.FAILED: "text-bg-danger",
}


# Django date-format codes as str.format fields of (local datetime, month abbreviation).
DATE_CODES = {
    "d": "{0:%d}",
    "j": "{0.day}",
    "m": "{0:%m}",
    "n": "{0.month}",
    "Y": "{0.year}",
    "y": "{0:%y}",
    "H": "{0:%H}",
    "G": "{0.hour}",
    "i": "{0:%M}",
    "s": "{0:%S}",
    "M": "{1}",
}


def date_formatter(fmt: str) -> Callable[[dt.datetime], str]:
    """What `django.utils.dateformat.format(value, fmt)` returns, as one `str.format` when
    `fmt` uses only DATE_CODES (both languages' SHORT_DATETIME_FORMAT do): dateformat parses
    the format again for every value, ~40 µs, a tenth of the page for 50 rows."""
    if "\\" in fmt or any(char.isalpha() and char not in DATE_CODES for char in fmt):
        return lambda value: dateformat.format(value, fmt)
    template = "".join(DATE_CODES.get(char) or char.replace("{", "{{").replace("}", "}}") for char in fmt)
    months = {number: str(name).title() for number, name in MONTHS_3.items()}  # as dateformat's M
    return lambda value: template.format(value, months[value.month])


def call_rows(rows: Iterable[dict]) -> SafeString:
    """The `<tr>`s of a history page for rows of `sip.history.call_values`."""
    directions = {value: escape(str(label)) for value, label in CallDirection.choices}
    results = {value: escape(str(label)) for value, label in Disposition.choices}
    in_progress = f' <span class="small text-muted">{escape(_("in progress"))}</span>'
    short = date_formatter(formats.get_format("SHORT_DATETIME_FORMAT"))
    zone = timezone.get_current_timezone()
    html = []
    for row in rows:
        disposition = row["disposition"]
        notes = ""
        if row["reason"] and disposition != Disposition.ANSWERED:
            notes = f' <span class="small text-muted">{int(row["sip_code"])} {escape(row["reason"])}</span>'
        if row["ended_at"] is None:
            notes += in_progress
        html.append(
            ROW.format(
                started=escape(short(row["started_at"].astimezone(zone))),
                caller=escape(row["caller"]),
                callee=escape(row["callee"]),
                direction=directions.get(row["direction"], escape(row["direction"])),
                caller_id=escape(row["caller_id"]) or "—",
                disposition=escape(disposition),
                badge=BADGES.get(disposition, "text-bg-secondary"),
                result=results.get(disposition, escape(disposition)),
                notes=notes,
                duration=int(row["duration"]),
            )
        )
    return mark_safe("\n".join(html))  # noqa: S308 - every value above is escaped


FILTER_FIELD = (
    '<div class="col-sm-4 col-lg-2"><label class="form-label small" for="id_{name}">{label}</label>'
    "{control}</div>"
)


def call_filter_fields(form) -> SafeString:
    """The filter form's fields (`sip.filtersets.CallFilterSet.form`, without the API's
    `extension` and `hotline`) as the extension list's are, by hand: Django's widget templates
    took ~2 ms of the page for five fields."""
    html = []
    for name in ("since", "until", "direction", "disposition", "number"):
        field, value = form.fields[name], str(form.data.get(name, ""))
        if name in ("direction", "disposition"):
            options = "".join(
                f'<option value="{escape(str(choice))}"{" selected" if str(choice) == value else ""}>'
                f"{escape(str(label))}</option>"
                for choice, label in field.choices
            )
            control = f'<select name="{name}" id="id_{name}" class="form-select">{options}</select>'
        else:
            kind, limit = ("date", "") if name in ("since", "until") else ("text", ' maxlength="64"')
            control = (
                f'<input type="{kind}" name="{name}" id="id_{name}" class="form-control" '
                f'value="{escape(value)}"{limit}>'
            )
        html.append(FILTER_FIELD.format(name=name, label=escape(str(field.label)), control=control))
    return mark_safe("\n".join(html))  # noqa: S308 - every value above is escaped
