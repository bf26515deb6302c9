"""CSV import and export of a hotline's extensions (máy lẻ), keyed on the extension number.

`import_preview` reads a file and says, for every row, what applying it would do (create,
update with which changes, unchanged, or which errors), writing nothing. `import_apply` does the
same check again inside one transaction, with the hotline's extensions locked, and writes only
if no row has an error: all or nothing. Both apply the rules of `services.extension_create` /
`extension_update` (see `extensions.services`) to the whole hotline in memory: the extensions it
has, changed by the file, plus the new ones, so a supervisor may be a row of the same file and a
supervision cycle made by several rows together is found.

The file format (columns, limits, formulas) is `extensions.csvio`'s.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import BooleanField, F
from django.db.models.functions import Length
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.context import current_request
from audit.services import audit_record, audit_record_each
from core.expressions import RowSQL
from core.guard import Access, guard_access
from hotlines.models import Hotline, NumberGroup
from hotlines.numbering import parse_vn_number

from . import csvio
from .choices import CallPermission, ImportStatus, RowAction
from .models import Extension, ImportJob
from .services import batch
from .services.rules import Draft, audit_values, labelled
from .validators import validate_extension_number

PROGRESS_EVERY = 500  # rows between two progress reports
WRITE_BATCH = 1000

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class RowResult:
    """One row of the file and what applying it does."""

    line: int
    number: str
    action: str = RowAction.UNCHANGED
    changes: dict[str, list[str]] = field(default_factory=dict)  # column → [old, new]
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """What dataclasses.asdict gives, without its deep copy of every value: a 10,000-row
        file's results are 260,000 recursive calls there (~0.5 s), here a dict per row."""
        return {
            "line": self.line,
            "number": self.number,
            "action": self.action,
            "changes": {column: type(values)(values) for column, values in self.changes.items()},
            "errors": list(self.errors),
        }


@dataclass
class ImportResult:
    """The outcome of checking (or applying) a file: file-level errors, or every row's result."""

    rows: list[RowResult] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    applied: bool = False
    # The version of each stored extension the file names, as checked (None: not stored then):
    # an apply refuses the rows whose extension changed since the preview.
    versions: dict[str, int | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.file_errors and not any(row.errors for row in self.rows)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(RowAction.values, 0)
        for row in self.rows:
            counts[row.action] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "ok": self.ok,
            "counts": self.counts,
            "file_errors": self.file_errors,
            "rows": [row.as_dict() for row in self.rows],
            "versions": self.versions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImportResult":
        return cls(
            rows=[RowResult(**row) for row in data.get("rows", [])],
            file_errors=list(data.get("file_errors", [])),
            applied=bool(data.get("applied")),
            versions=dict(data.get("versions", {})),
        )


# --- the CSV values of an extension (export, and the "before" of an import) --------------------


def _csv_values(
    extension: Extension,
    *,
    supervisor_number: str,
    hotline_numbers: Iterable[str],
    group_names: Iterable[str],
) -> dict[str, str]:
    return {
        "number": extension.number,
        "alias": extension.alias,
        "call_permission": CallPermission(extension.call_permission).slug,
        "supervisor": supervisor_number,
        "outbound_hotlines": csvio.LIST_SEPARATOR.join(sorted(hotline_numbers)),
        "outbound_groups": csvio.LIST_SEPARATOR.join(sorted(group_names, key=str.lower)),
        "description": extension.description,
        "enabled": "true" if extension.enabled else "false",
    }


class _Hotline:
    """A hotline's extensions and the tenant's caller IDs, loaded once (five queries)."""

    def __init__(self, hotline: Hotline, *, lock: bool = False):
        self.hotline = hotline
        qs = hotline.extensions.order_by()  # the related manager: each .hotline is `hotline`
        if lock:  # by primary key, in id order, as every writer locks (no deadlock between two)
            qs = qs.select_for_update(of=("self",)).order_by("pk")
        self.extensions = list(qs)
        self.by_number = {e.number: e for e in self.extensions}
        self.by_pk = {e.pk: e for e in self.extensions}
        self.hotlines_of, self.groups_of = batch.m2m_ids(self.by_pk)
        self.tenant_hotlines = {h.pk: h for h in Hotline.objects.filter(tenant_id=hotline.tenant_id)}
        self.hotline_by_number = {h.number: h for h in self.tenant_hotlines.values()}
        self.tenant_groups = {g.pk: g for g in NumberGroup.objects.filter(tenant_id=hotline.tenant_id)}
        self.group_by_name = {g.name.lower(): g for g in self.tenant_groups.values()}

    def csv_values(self, extension: Extension) -> dict[str, str]:
        supervisor = self.by_pk.get(extension.supervisor_id)
        return _csv_values(
            extension,
            supervisor_number=supervisor.number if supervisor else "",
            hotline_numbers=(self.tenant_hotlines[i].number for i in self.hotlines_of.get(extension.pk, ())),
            group_names=(self.tenant_groups[i].name for i in self.groups_of.get(extension.pk, ())),
        )

    def caller_id_hotline(self, text: str) -> Hotline | None:
        """A caller-ID hotline of the tenant, by its number in any common spelling."""
        found = self.hotline_by_number.get(text)
        if found is None:
            try:
                found = self.hotline_by_number.get(parse_vn_number(text).national)
            except ValidationError:
                return None
        return found


# --- export ------------------------------------------------------------------------------------

# Extensions read, formatted (and, with passwords, audited then decrypted) per batch: a few
# queries each, so memory stays flat and the first bytes leave after the first batch whatever
# the hotline's size (bench/bench_export.py, docs/performance.md "Export").
EXPORT_BATCH = 2000


def _after(number: str) -> RowSQL:
    """Extensions after `number` in number order, `(length(number), number) > (…)`: one row
    comparison, so the scan starts at the place in the `extension_number_order` index."""

    def sql(vendor, ops) -> str:
        column = "{row}." + ops.quote_name("number")
        return f"(LENGTH({column}), {column}) > (%s, %s)"

    return RowSQL(sql, (len(number), number), output_field=BooleanField())


def _export_batch(hotline: Hotline, after: str | None) -> list[tuple[Extension, dict[str, str]]]:
    """Up to `EXPORT_BATCH` extensions of the hotline after the number `after`, in number order,
    each with its CSV values: three short queries (the rows with their supervisor's number,
    their caller-ID hotlines, their number groups)."""
    qs = hotline.extensions.annotate(supervisor_number=F("supervisor__number")).order_by(
        Length("number"), "number"
    )
    if after is not None:
        qs = qs.filter(_after(after))
    extensions = list(qs[:EXPORT_BATCH])
    if not extensions:
        return []
    ids = [e.pk for e in extensions]
    hotlines_of: dict[int, list[str]] = defaultdict(list)
    groups_of: dict[int, list[str]] = defaultdict(list)
    for ext_id, number in batch.HotlineThrough.objects.filter(extension_id__in=ids).values_list(
        "extension_id", "hotline__number"
    ):
        hotlines_of[ext_id].append(number)
    for ext_id, name in batch.GroupThrough.objects.filter(extension_id__in=ids).values_list(
        "extension_id", "numbergroup__name"
    ):
        groups_of[ext_id].append(name)
    return [
        (
            extension,
            _csv_values(
                extension,
                supervisor_number=extension.supervisor_number or "",
                hotline_numbers=hotlines_of.get(extension.pk, ()),
                group_names=groups_of.get(extension.pk, ()),
            ),
        )
        for extension in extensions
    ]


def _export_batches(hotline: Hotline) -> Iterator[list[tuple[Extension, dict[str, str]]]]:
    """The hotline's extensions in number order (length, then number), `EXPORT_BATCH` at a
    time, with no transaction held between batches. A batch is read when the previous one has
    been written out: an extension changed during a long export is exported as it is when its
    batch is read."""
    after = None
    while pairs := _export_batch(hotline, after):
        after, full = pairs[-1][0].number, len(pairs) == EXPORT_BATCH
        yield pairs
        # Asked for the next batch, the consumer is done with this one: free its rows before
        # the next are read, so no more than one batch is ever held.
        pairs.clear()
        if not full:
            return


def export_rows(*, hotline: Hotline, with_passwords: bool = False) -> Iterator[dict[str, str]]:
    """Every extension of the hotline as CSV values, in number order, read batch by batch as
    the rows are consumed; passwords only when asked, unaudited (callers go through
    `export_rows_with_passwords`, which is guarded and audited)."""
    for pairs in _export_batches(hotline):
        for extension, values in pairs:
            if with_passwords:
                yield {**values, csvio.PASSWORD_COLUMN: extension.get_sip_password()}
            else:
                yield values


def export_columns(*, with_passwords: bool = False) -> tuple[str, ...]:
    return csvio.KNOWN_COLUMNS if with_passwords else csvio.COLUMNS


@contextmanager
def _in_request(request: HttpRequest | None) -> Iterator[None]:
    """The audit context (source IP, user agent) of the request that asked for the export:
    its rows are written while the response streams, after the request's middleware returned."""
    token = current_request.set(request)
    try:
        yield
    finally:
        current_request.reset(token)


@sensitive_variables()
def _audited_rows_with_passwords(
    hotline: Hotline, *, user, request: HttpRequest | None
) -> Iterator[dict[str, str]]:
    # Per batch: its "export" audit rows are committed (their own transaction), only then its
    # passwords are decrypted, one as each row is written out — so no list of plaintext
    # passwords sits in a frame or in memory. A client that goes away mid-stream closes this
    # generator at a yield: the batches read so far are audited, later ones never decrypted.
    for pairs in _export_batches(hotline):
        with _in_request(request), transaction.atomic():
            audit_record_each(
                action=Action.EXPORT,
                tenant_id=hotline.tenant_id,
                actor=user,
                objects=((e, f"{e.number} ({e.alias})") for e, _ in pairs),
                changes={"with_passwords": [False, True]},
            )
        for extension, values in pairs:
            yield {**values, csvio.PASSWORD_COLUMN: extension.get_sip_password()}


@sensitive_variables()
@transaction.atomic
def export_rows_with_passwords(*, hotline: Hotline, user, session=None) -> Iterator[dict[str, str]]:
    """The export with every password: the reveal guard first (recent sign-in, rate limit)
    and one "export" audit record of the operation on the hotline with its count, committed
    before any row is read. Then, lazily while the CSV is written, batch by batch: an "export"
    audit record per extension of the batch, committed, and only then that batch's passwords
    decrypted. If anything fails before a batch's audit rows are written, none of its
    passwords was decrypted. One bulk operation of the guard (a sign-in within 5 minutes, the
    bulk budget), whatever the number of extensions."""
    guard_access(user=user, session=session, access=Access.BULK)
    count = hotline.extensions.count()
    audit_record(
        action=Action.EXPORT,
        obj=hotline,
        tenant_id=hotline.tenant_id,
        actor=user,
        changes={"with_passwords": [False, True], "count": [0, count]},
    )
    return _audited_rows_with_passwords(hotline, user=user, request=current_request.get())


# --- import ------------------------------------------------------------------------------------


@dataclass
class _Row:
    result: RowResult
    draft: Draft | None = None
    columns: frozenset = frozenset()
    before: dict[str, str] = field(default_factory=dict)  # the CSV values as stored
    supervisor: str | None = None  # None: not in the file; "": none; else a number
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def extension(self) -> Extension | None:
        return self.draft.extension if self.draft is not None else None

    @property
    def is_new(self) -> bool:
        return self.draft is not None and self.draft.is_new


class _Planner:
    """A file's rows as drafts of `services.batch`: parsed here (columns, names, numbers), then
    checked by the same rules as every other write and written by the same writer."""

    def __init__(
        self,
        hotline: Hotline,
        data: bytes | str,
        *,
        lock: bool,
        progress: Progress | None,
        previewed: dict[str, int | None] | None = None,
    ):
        self.hotline = hotline
        self.previewed = previewed
        self.progress = progress or (lambda phase, done, total: None)
        self.result = ImportResult()
        self.rows: list[_Row] = []
        try:
            self.file = csvio.read(data)
        except csvio.CsvRefused as exc:
            self.file = None
            self.result.file_errors = exc.messages
            return
        self.loaded = _Hotline(hotline, lock=lock)

    def plan(self) -> ImportResult:
        if self.file is None:
            return self.result
        total = len(self.file.rows)
        for done, csv_row in enumerate(self.file.rows, start=1):
            self.rows.append(self._parse(csv_row))
            if done % PROGRESS_EVERY == 0:
                self.progress("checking", done // 2, total)
        self._find_duplicate_numbers()
        self._link_supervisors()
        checked = [row.draft for row in self.rows if row.draft is not None and not row.errors.get("number")]
        batch.check(checked, tenant_id=self.hotline.tenant_id)
        self.progress("checking", total * 3 // 4, total)
        for row in self.rows:
            if row.draft is not None:
                for name, messages in row.draft.errors.items():
                    row.errors[name].extend(m for m in messages if m not in row.errors[name])
            self._conclude(row)
        self.result.rows = [row.result for row in self.rows]
        self.progress("checking", total, total)
        return self.result

    @sensitive_variables("cells", "csv_row")
    def _parse(self, csv_row: csvio.CsvRow) -> _Row:
        cells = csv_row.cells
        number = cells.get("number", "").strip()
        row = _Row(result=RowResult(line=csv_row.line, number=number), columns=frozenset(cells))
        for message in csv_row.errors:
            row.errors[""].append(message)
        try:
            validate_extension_number(number)
        except ValidationError as exc:
            row.errors["number"].extend(exc.messages)
            return row
        extension = self.loaded.by_number.get(number)
        self.result.versions[number] = extension.version if extension is not None else None
        if self.previewed is not None and number in self.previewed:
            self._refuse_if_changed_since_preview(row, number, self.previewed[number], extension)
        if extension is None:
            extension = Extension(hotline=self.hotline, number=number)
            row.draft = Draft(extension=extension, key=number)
        else:
            row.before = self.loaded.csv_values(extension)
            row.draft = Draft(extension=extension, key=number)
            row.draft.before = audit_values(
                row.draft,
                hotline_ids=self.loaded.hotlines_of.get(extension.pk, ()),
                group_ids=self.loaded.groups_of.get(extension.pk, ()),
            )
        draft = row.draft

        if "alias" in cells and (cells["alias"].strip() or row.is_new):
            extension.alias = cells["alias"].strip()
        if value := cells.get("call_permission", "").strip():
            permission = csvio.parse_call_permission(value)
            if permission is None:
                row.errors["call_permission"].append(
                    _("“%(value)s” is not a call permission; use one of %(choices)s.")
                    % {"value": value, "choices": csvio.call_permission_names()}
                )
            else:
                extension.call_permission = permission
        if value := cells.get("enabled", "").strip():
            enabled = csvio.parse_bool(value)
            if enabled is None:
                row.errors["enabled"].append(
                    _("“%(value)s” is not yes or no; use true/false, 1/0, yes/no or có/không.")
                    % {"value": value}
                )
            else:
                extension.enabled = enabled
        if "description" in cells:
            extension.description = cells["description"]
        if "supervisor" in cells:
            row.supervisor = cells["supervisor"].strip()
        if "outbound_hotlines" in cells:
            draft.hotlines = []
            for text in csvio.split_list(cells["outbound_hotlines"]):
                hotline = self.loaded.caller_id_hotline(text)
                if hotline is None:
                    row.errors["outbound_hotlines"].append(
                        _("“%(value)s” is not one of your hotlines.") % {"value": text}
                    )
                elif hotline not in draft.hotlines:
                    draft.hotlines.append(hotline)
        if "outbound_groups" in cells:
            draft.groups = []
            for text in csvio.split_list(cells["outbound_groups"]):
                group = self.loaded.group_by_name.get(text.lower())
                if group is None:
                    row.errors["outbound_groups"].append(
                        _("“%(value)s” is not one of your number groups.") % {"value": text}
                    )
                elif group not in draft.groups:
                    draft.groups.append(group)
        password = cells.get(csvio.PASSWORD_COLUMN, "")
        if password and not row.is_new and password == extension.get_sip_password():
            password = ""  # the current one (an export with passwords): no change
        draft.password = password
        return row

    @staticmethod
    def _refuse_if_changed_since_preview(row: _Row, number: str, seen: int | None, extension) -> None:
        """Applying a row whose extension changed after the preview would silently undo that
        change (or act on a row that is gone): refuse it, saying which, so the admin looks again."""
        now = extension.version if extension is not None else None
        if seen == now:
            return
        if seen is None:
            message = _("Extension %(number)s was created by someone else after the preview.")
        elif now is None:
            message = _("Extension %(number)s was deleted after the preview.")
        else:
            message = _(
                "Extension %(number)s was changed after the preview; applying this row would "
                "undo that change."
            )
        row.errors[""].append(
            (message % {"number": number}) + " " + _("Upload the file again to see what it would do now.")
        )

    def _find_duplicate_numbers(self) -> None:
        lines: dict[str, list[int]] = defaultdict(list)
        for row in self.rows:
            if row.draft is not None:
                lines[row.result.number].append(row.result.line)
        for row in self.rows:
            seen = lines.get(row.result.number, [])
            if len(seen) > 1:
                row.errors["number"].append(
                    _(
                        "Extension %(number)s is on more than one line of the file (lines "
                        "%(lines)s); keep one."
                    )
                    % {"number": row.result.number, "lines": ", ".join(map(str, seen))}
                )

    def _link_supervisors(self) -> None:
        """Set the supervisor object of every row with a supervisor column: an extension of the
        hotline, or a new row of this file (then it gets its id when both are written)."""
        by_number = dict(self.loaded.by_number)
        by_number.update(
            {
                row.result.number: row.extension
                for row in self.rows
                if row.is_new and not row.errors.get("number")
            }
        )
        for row in self.rows:
            if row.draft is None or row.supervisor is None:
                continue
            if not row.supervisor:
                row.extension.supervisor = None
            elif row.supervisor in by_number:
                row.extension.supervisor = by_number[row.supervisor]
            else:
                row.errors["supervisor"].append(
                    _("“%(value)s” is not an extension of this hotline nor a row of this file.")
                    % {"value": row.supervisor}
                )

    def _conclude(self, row: _Row) -> None:
        result = row.result
        errors = {name: messages for name, messages in row.errors.items() if messages}
        if errors:
            result.action = RowAction.ERROR
            result.errors = labelled({(name or "__all__"): messages for name, messages in errors.items()})
            return
        after = self._after(row)
        if row.is_new:
            result.action = RowAction.CREATE
            result.changes = {name: ["", value] for name, value in after.items() if value}
        else:
            result.changes = {
                name: [row.before[name], after[name]]
                for name in after
                if name in row.columns and after[name] != row.before[name]
            }
            result.action = RowAction.UPDATE if result.changes else RowAction.UNCHANGED
        if row.draft is not None and row.draft.password:
            result.changes[csvio.PASSWORD_COLUMN] = ["", _("(new password)")]
            if result.action == RowAction.UNCHANGED:
                result.action = RowAction.UPDATE

    def _after(self, row: _Row) -> dict[str, str]:
        extension, draft = row.extension, row.draft
        assert extension is not None and draft is not None  # rows without a valid number stop earlier
        supervisor = extension.supervisor if Extension.supervisor.is_cached(extension) else None
        if supervisor is None and not Extension.supervisor.is_cached(extension) and extension.supervisor_id:
            supervisor = self.loaded.by_pk.get(extension.supervisor_id)
        if draft.hotlines is not None:
            hotline_ids = {h.pk for h in draft.hotlines}
        else:
            hotline_ids = set(self.loaded.hotlines_of.get(extension.pk, ()) if not row.is_new else ())
        if draft.groups is not None:
            group_ids = {g.pk for g in draft.groups}
        else:
            group_ids = set(self.loaded.groups_of.get(extension.pk, ()) if not row.is_new else ())
        return _csv_values(
            extension,
            supervisor_number=supervisor.number if supervisor is not None else "",
            hotline_numbers=(self.loaded.tenant_hotlines[i].number for i in hotline_ids),
            group_names=(self.loaded.tenant_groups[i].name for i in group_ids),
        )

    def drafts_to_write(self) -> list[Draft]:
        return [
            row.draft
            for row in self.rows
            if row.draft is not None and row.result.action in (RowAction.CREATE, RowAction.UPDATE)
        ]

    def write(self) -> None:
        """Write every row that creates or changes (after a clean plan): one batch."""
        drafts = self.drafts_to_write()
        self.progress("writing", 0, len(drafts))
        batch.write(
            drafts,
            tenant_id=self.hotline.tenant_id,
            progress=lambda done, total: self.progress("writing", done, total),
        )
        self.result.applied = True


@sensitive_variables()  # the file's password cells, in every frame below
def import_preview(*, hotline: Hotline, data: bytes | str, progress: Progress | None = None) -> ImportResult:
    """What importing `data` into the hotline would do, row by row; writes nothing."""
    return _Planner(hotline, data, lock=False, progress=progress).plan()


@sensitive_variables()  # the file's password cells, in every frame below
@transaction.atomic
def import_apply(
    *,
    hotline: Hotline,
    data: bytes | str,
    filename: str = "",
    progress: Progress | None = None,
    user=None,
    session=None,
    previewed: dict[str, int | None] | None = None,
) -> ImportResult:
    """Check `data` again and, only if no row has an error, apply every row in this
    transaction; an audit record per extension created or changed, and one for the file.
    With `previewed` (each number's version when the file was previewed), a row whose
    extension changed since is an error. The result says whether it was applied and, if not, why."""
    planner = _Planner(hotline, data, lock=True, progress=progress, previewed=previewed)
    result = planner.plan()
    if result.ok:
        # Passwords chosen in the file: counted and audited like reveals (raises if refused).
        batch.guard_chosen(planner.drafts_to_write(), user=user, session=session)
        planner.write()
        counts = result.counts
        audit_record(
            action=Action.IMPORT,
            obj=hotline,
            tenant_id=hotline.tenant_id,
            object_repr=f"{hotline.number}: {filename}"[:200],
            changes={
                "file": ["", filename],
                **{key: [0, counts[key]] for key in (RowAction.CREATE, RowAction.UPDATE)},
            },
        )
    return result


# --- import jobs: the dashboard's preview → apply, across two requests ----------------------------


@sensitive_variables()  # the file's password cells, in every frame below
def import_job_create(
    *, hotline: Hotline, user, filename: str, data: bytes | str, progress: Progress | None = None
) -> ImportJob:
    """Check an uploaded file and keep it (encrypted) with its preview until it is applied.
    A file that cannot be read at all is refused with a ValidationError and not kept."""
    result = import_preview(hotline=hotline, data=data, progress=progress)
    if result.file_errors:
        raise ValidationError({"file": result.file_errors})
    text = csvio.decode(data)
    job = ImportJob(
        tenant_id=hotline.tenant_id,
        hotline=hotline,
        created_by=user,
        filename=filename[:255],
        summary=result.as_dict(),
    )
    job.set_csv(text)
    job.save()
    # Uploads nobody applied within a day are dropped, with the file they hold.
    ImportJob.objects.filter(
        tenant_id=hotline.tenant_id,
        status=ImportStatus.PREVIEWED,
        created_at__lt=timezone.now() - timedelta(days=1),
    ).delete()
    return job


@sensitive_variables()  # the file's password cells, in every frame below
@transaction.atomic
def import_job_apply(
    *, job: ImportJob, progress: Progress | None = None, user=None, session=None
) -> ImportResult:
    """Apply a checked upload (all or nothing); the stored file is wiped either way — unless
    the guard refuses the passwords it sets (`RevealRefused`): then nothing changes and the
    upload can be applied after signing in again."""
    job = ImportJob.objects.select_for_update().select_related("hotline").get(pk=job.pk)
    if job.status != ImportStatus.PREVIEWED:
        raise ValidationError(_("This import was already applied or refused."), code="done")
    if job.hotline.tenant_id != job.tenant_id:  # the hotline was moved to another customer since
        raise ValidationError(_("This hotline no longer belongs to your company."), code="moved")
    try:
        with transaction.atomic():
            result = import_apply(
                hotline=job.hotline,
                data=job.get_csv(),
                filename=job.filename,
                progress=progress,
                user=user,
                session=session,
                previewed=job.summary.get("versions"),
            )
            if not result.ok:
                transaction.set_rollback(True)
    except ValidationError as exc:  # the database refused a write (e.g. a concurrent edit)
        result = ImportResult.from_dict(job.summary)
        result.file_errors = exc.messages
    job.status = ImportStatus.APPLIED if result.applied else ImportStatus.FAILED
    job.summary = result.as_dict()
    job.applied_at = timezone.now()
    job.set_csv("")
    job.save(update_fields=["status", "summary", "applied_at", "csv_encrypted"])
    return result


def iter_export_csv(
    rows: Iterable[dict[str, str]], *, with_passwords: bool = False, language: str | None = None
) -> Iterator[str]:
    return csvio.write(rows, columns=export_columns(with_passwords=with_passwords), language=language)
