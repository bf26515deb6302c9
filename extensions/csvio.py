"""The CSV format of extensions (máy lẻ), both ways: reading an upload, writing an export.

One row per extension, keyed on its number. Columns (any order; `number` is required, the
others may be left out of an import to leave those fields as they are):

    number, alias, call_permission, supervisor, outbound_hotlines, outbound_groups,
    description, enabled[, password]

Files are UTF-8, with or without a byte-order mark (exports carry one so spreadsheet programs
open Vietnamese text correctly); commas or semicolons between cells (a spreadsheet set to
Vietnamese saves with semicolons). A file is refused as a whole, before its rows are read to
the end, when it is larger than MAX_BYTES or has more than MAX_ROWS rows.

Spreadsheet formulas: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return
would be run as a formula by a spreadsheet program ("CSV injection"). An export therefore
prefixes such cells with a single quote, which spreadsheets show as text; an import refuses
them and reads a quote followed by one of those characters (or by another quote) as the
literal text after the quote, so an export imports back unchanged.
"""

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .choices import CallPermission
from .validators import NUMBER_RE

COLUMNS = (
    "number",
    "alias",
    "call_permission",
    "supervisor",
    "outbound_hotlines",
    "outbound_groups",
    "description",
    "enabled",
)
PASSWORD_COLUMN = "password"
KNOWN_COLUMNS = (*COLUMNS, PASSWORD_COLUMN)
REQUIRED_COLUMNS = ("number",)
LIST_SEPARATOR = ";"  # between hotline numbers / group names inside one cell

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"

# The column names people see in the dashboard, in every language: an import takes these as
# well as the column codes above, and an export can write them (`write(language=…)`).
COLUMN_LABELS = {
    "number": gettext_lazy("Extension number"),
    "alias": gettext_lazy("Alias"),
    "call_permission": gettext_lazy("Call permission"),
    "supervisor": gettext_lazy("Supervisor extension"),
    "outbound_hotlines": gettext_lazy("Caller-ID hotlines"),
    "outbound_groups": gettext_lazy("Number groups"),
    "description": gettext_lazy("Description"),
    "enabled": gettext_lazy("Enabled"),
    PASSWORD_COLUMN: gettext_lazy("Password"),
}

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "có", "co"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "không", "khong"})


def fold(text: str) -> str:
    """For comparing what people type: case, Vietnamese diacritics (đ too), spaces and
    underscores do not matter ("Quyền gọi", "quyen goi", "QUYEN_GOI")."""
    text = unicodedata.normalize("NFD", text.strip().lower().replace("đ", "d"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.replace("_", " ").split())


def _in_every_language(label) -> list[str]:
    names = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            names.append(str(label))
    return names


@cache
def _header_names() -> dict[str, str]:
    """Folded column code or label (any language) → column code."""
    names = {}
    for column in KNOWN_COLUMNS:
        names[fold(column)] = column
        for label in _in_every_language(COLUMN_LABELS[column]):
            names.setdefault(fold(label), column)
    return names


@cache
def _permission_names() -> dict[str, CallPermission]:
    """Folded slug, number or label (any language) of a call permission → the permission."""
    names = {}
    for permission in CallPermission:
        names[permission.slug] = permission
        names[str(permission.value)] = permission
        for label in _in_every_language(permission.label):
            names.setdefault(fold(label), permission)
    return names


def parse_call_permission(value: str) -> CallPermission | None:
    """`mobile`, `3`, `Di động`, `di dong` or `Mobile` (any case); None when it is none."""
    return _permission_names().get(fold(value))


def call_permission_names() -> str:
    """The names an import takes, for messages: the labels in the current language, then the codes."""
    labels = ", ".join(str(p.label) for p in CallPermission)
    return f"{labels} ({', '.join(p.slug for p in CallPermission)})"


def column_label(column: str) -> str:
    return str(COLUMN_LABELS.get(column, column))


def shown_value(column: str, value: str) -> str:
    """A cell as people read it in the current language (call permission and enabled by label)."""
    if column == "call_permission" and (permission := parse_call_permission(value)) is not None:
        return str(permission.label)
    if column == "enabled" and (enabled := parse_bool(value)) is not None:
        return str(_("Yes") if enabled else _("No"))
    return value


def shown_changes(changes: dict[str, list[str]]) -> dict[str, list[str]]:
    """{column: [old, new]} of an import row → {label: [old, new]} as people read them."""
    return {
        column_label(column): [shown_value(column, value) for value in pair]
        for column, pair in changes.items()
    }


class CsvRefused(ValidationError):
    """The file as a whole cannot be read; nothing in it was looked at further."""


@dataclass
class CsvRow:
    line: int  # line of the file where the row starts (the header is line 1)
    cells: dict[str, str]  # column → cell, quotes that protected formulas removed
    errors: list[str] = field(default_factory=list)


@dataclass
class CsvFile:
    columns: list[str]
    rows: list[CsvRow]


def decode(data: bytes | str) -> str:
    """The text of an upload: UTF-8 with or without BOM, within MAX_BYTES."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise CsvRefused(
            _("The file is %(size)s MB; the limit is %(limit)d MB. Split it into smaller files.")
            % {"size": f"{size / 1024 / 1024:.1f}", "limit": MAX_BYTES // 1024 // 1024},
            code="too_large",
        )
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CsvRefused(
                _(
                    "The file is not UTF-8 text (it could not be read at byte %(position)d). In "
                    "your spreadsheet, save it as “CSV UTF-8”."
                )
                % {"position": exc.start},
                code="not_utf8",
            ) from exc
    if "\x00" in text:  # a binary file, or UTF-16; no database text may hold it
        raise CsvRefused(
            _("The file contains NUL characters, so it is not a CSV text file. Save it as “CSV UTF-8”."),
            code="nul",
        )
    return text


def read(data: bytes | str) -> CsvFile:
    """Parse an upload into rows; CsvRefused for a file that cannot be imported at all.

    Row-level problems (a cell that looks like a formula, a row with the wrong number of cells)
    are left on each row, so the preview can list every one of them.
    """
    text = decode(data)
    if not text.strip():
        raise CsvRefused(_("The file is empty."), code="empty")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        columns = _check_header(header)
        rows = list(_rows(reader, columns))
    except csv.Error as exc:
        raise CsvRefused(
            _("The file is not valid CSV near line %(line)d (%(error)s).")
            % {"line": reader.line_num, "error": exc},
            code="malformed",
        ) from exc
    if not rows:
        raise CsvRefused(_("The file has a header but no rows."), code="no_rows")
    return CsvFile(columns=columns, rows=rows)


def _check_header(header: list[str]) -> list[str]:
    names = _header_names()
    typed = [name.strip() for name in header]
    columns = [names.get(fold(name), name.lower()) for name in typed]
    errors = []
    unknown = [name for name, column in zip(typed, columns, strict=True) if column not in KNOWN_COLUMNS]
    if unknown:
        errors.append(
            _("Unknown column(s): %(unknown)s. The columns are: %(known)s.")
            % {
                "unknown": ", ".join(f"“{name}”" for name in unknown),
                "known": ", ".join(f"{column_label(c)} ({c})" for c in KNOWN_COLUMNS),
            }
        )
    duplicates = sorted({name for name in columns if columns.count(name) > 1 and name})
    if duplicates:
        errors.append(_("Column(s) appear more than once: %(columns)s.") % {"columns": ", ".join(duplicates)})
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        errors.append(
            _("The first line must be the header and name the column(s) %(columns)s.")
            % {"columns": ", ".join(missing)}
        )
    if errors:
        raise CsvRefused(errors, code="bad_header")
    return columns


def _rows(reader, columns: list[str]) -> Iterator[CsvRow]:
    count = 0
    line = reader.line_num + 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            count += 1
            if count > MAX_ROWS:
                raise CsvRefused(
                    ngettext(
                        "The file has more than %(limit)d row; split it into smaller files.",
                        "The file has more than %(limit)d rows; split it into smaller files.",
                        MAX_ROWS,
                    )
                    % {"limit": MAX_ROWS},
                    code="too_many_rows",
                )
            yield _row(line, cells, columns)
        line = reader.line_num + 1


def _row(line: int, cells: list[str], columns: list[str]) -> CsvRow:
    row = CsvRow(line=line, cells={})
    if len(cells) != len(columns):
        row.errors.append(
            _("This row has %(cells)d cells; the header has %(columns)d.")
            % {"cells": len(cells), "columns": len(columns)}
        )
        if PASSWORD_COLUMN in columns:
            # Which cell is the password is unknown here; any cell may be it, so none is read
            # (and none echoed by a later message) but an extension number, to name the row.
            number = cells[columns.index("number")].strip() if len(cells) > columns.index("number") else ""
            row.cells = {"number": number} if NUMBER_RE.fullmatch(number) else {}
            return row
    for name, cell in zip(columns, cells, strict=False):
        if cell.startswith(FORMULA_PREFIXES):
            row.errors.append(_formula_error(name, cell))
        row.cells[name] = unquote(cell)
    return row


def _formula_error(column: str, cell: str) -> str:
    if column == PASSWORD_COLUMN:
        # Never echo a password, not even its first character: errors are shown, kept in the
        # import's summary (the database) and returned by the API.
        return _(
            "%(column)s: the cell starts with =, +, -, @, a tab or a line break, which a spreadsheet "
            "would run as a formula. Remove that character, or put a single quote (') before it to "
            "mean the text as written."
        ) % {"column": column}
    return _(
        "%(column)s: “%(cell)s” starts with “%(char)s”, which a spreadsheet would run as "
        "a formula. Remove that character, or put a single quote (') before it to mean "
        "the text as written."
    ) % {"column": column, "cell": cell[:40].strip(), "char": cell[0].strip() or cell[0]}


def unquote(cell: str) -> str:
    """Undo export()'s protection: `'=x` means the text `=x`, `''x` means `'x`."""
    if cell.startswith(QUOTE) and cell[1:2] and cell[1:2] in (*FORMULA_PREFIXES, QUOTE):
        return cell[1:]
    return cell


def neutralise(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs: see the module docstring."""
    if value.startswith(FORMULA_PREFIXES) or (
        value.startswith(QUOTE) and value[1:2] in (*FORMULA_PREFIXES, QUOTE)
    ):
        return QUOTE + value
    return value


def parse_bool(value: str) -> bool | None:
    """true/false, 1/0, yes/no, có/không (any case); None when it is none of these."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(LIST_SEPARATOR) if item.strip()]


def write(
    rows: Iterable[dict[str, str]], *, columns: Iterable[str] = COLUMNS, language: str | None = None
) -> Iterator[str]:
    """CSV text, chunk by chunk (for a streaming response): a BOM, the header, then the rows,
    every cell neutralised. With a `language`, the header and the call permission and enabled
    cells are written as the dashboard shows them in that language ("Quyền gọi", "Di động",
    "Có"), which an import reads back; without one, as the column codes (`call_permission`,
    `mobile`, `true`)."""
    columns = list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    if language:
        with translation.override(language):
            writer.writerow([column_label(name) for name in columns])
            shown = {
                "call_permission": {p.slug: str(p.label) for p in CallPermission},
                "enabled": {"true": str(_("Yes")), "false": str(_("No"))},
            }
    else:
        writer.writerow(columns)
        shown = {}
    for count, row in enumerate(rows, start=1):
        cells = [str(row.get(name, "")) for name in columns]
        if shown:
            cells = [shown.get(name, {}).get(cell, cell) for name, cell in zip(columns, cells, strict=True)]
        writer.writerow([neutralise(cell) for cell in cells])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
