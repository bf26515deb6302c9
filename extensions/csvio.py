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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "có", "co"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "không", "khong"})


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
    columns = [name.strip().lower() for name in header]
    errors = []
    unknown = [name for name in columns if name not in KNOWN_COLUMNS]
    if unknown:
        errors.append(
            _("Unknown column(s): %(unknown)s. The columns are: %(known)s.")
            % {"unknown": ", ".join(f"“{name}”" for name in unknown), "known": ", ".join(KNOWN_COLUMNS)}
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


def write(rows: Iterable[dict[str, str]], *, columns: Iterable[str] = COLUMNS) -> Iterator[str]:
    """CSV text, chunk by chunk (for a streaming response): a BOM, the header, then the rows,
    every cell neutralised."""
    columns = list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(columns)
    for count, row in enumerate(rows, start=1):
        writer.writerow([neutralise(str(row.get(name, ""))) for name in columns])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
