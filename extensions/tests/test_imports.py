"""CSV import and export (extensions.csvio, extensions.imports): every refusal writes nothing."""

from dataclasses import asdict

import pytest

from audit.choices import Action
from audit.models import AuditEvent
from extensions import csvio
from extensions.choices import CallPermission, ImportStatus, RowAction
from extensions.imports import (
    ImportResult,
    export_rows,
    import_apply,
    import_job_apply,
    import_job_create,
    import_preview,
    iter_export_csv,
)
from extensions.models import Extension, ImportJob
from tests.factories import HotlineFactory

pytestmark = pytest.mark.django_db

HEADER = "number,alias,call_permission,supervisor,outbound_hotlines,outbound_groups,description,enabled"


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *lines]) + "\r\n"


def export_text(hotline, **kwargs) -> str:
    return "".join(iter_export_csv(export_rows(hotline=hotline, **kwargs), **kwargs))


def snapshot_db():
    """Everything an import could touch."""
    return (
        sorted(
            Extension.objects.values_list(
                "hotline_id",
                "number",
                "alias",
                "call_permission",
                "supervisor_id",
                "description",
                "enabled",
                "password_encrypted",
                "version",
            )
        ),
        sorted(Extension.outbound_hotlines.through.objects.values_list("extension_id", "hotline_id")),
        sorted(Extension.outbound_groups.through.objects.values_list("extension_id", "numbergroup_id")),
        AuditEvent.objects.count(),
    )


def by_number(result):
    return {row.number: row for row in result.rows}


# --- export and the round trip ------------------------------------------------------------------


def test_export_has_the_columns_no_password_and_vietnamese_intact(world):
    world.ext_a["102"].description = "Nhân viên kinh doanh — Hà Nội"
    world.ext_a["102"].save()
    text = export_text(world.hotline_a)
    assert text.startswith("\ufeff" + ",".join(csvio.COLUMNS) + "\r\n")
    assert "password" not in text
    assert world.ext_a["100"].get_sip_password() not in text
    assert "Nhân viên kinh doanh — Hà Nội" in text
    assert "101,salea,mobile,100,,Group A,,true" in text


def test_export_neutralises_formula_cells(world):
    ext = world.ext_a["102"]
    for description, expected in [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("'quoted", "'quoted"),
        ("'=x", "''=x"),
    ]:
        ext.description = description
        ext.save()
        row = next(line for line in export_text(world.hotline_a).splitlines() if line.startswith("102,"))
        assert row.endswith(f",{expected},true") or expected in row, row


def test_import_of_an_export_is_unchanged_every_row(world):
    hotline = world.hotline_a
    ext = world.ext_a["102"]
    ext.description = '=HYPERLINK("x") ; Ghi chú, có dấu phẩy\nvà xuống dòng'
    ext.save()
    ext.outbound_hotlines.set([world.hotline_a2, hotline])
    ext.outbound_groups.set([world.group_a])
    text = export_text(hotline)
    before = snapshot_db()
    result = import_apply(hotline=hotline, data=text.encode("utf-8"))
    assert result.ok and result.applied
    assert [row.action for row in result.rows] == [RowAction.UNCHANGED] * 3
    # Nothing changed but the one IMPORT record of the file.
    after = snapshot_db()
    assert after[:3] == before[:3]
    assert after[3] == before[3] + 1


def test_import_of_an_export_with_passwords_is_unchanged_too(world):
    text = export_text(world.hotline_a, with_passwords=True)
    result = import_preview(hotline=world.hotline_a, data=text)
    assert {row.action for row in result.rows} == {RowAction.UNCHANGED}, result.rows


# --- dry run and apply ----------------------------------------------------------------------------


def test_preview_lists_every_row_and_writes_nothing(world):
    text = csv_text(
        "100,bossa,international,,,,Trưởng phòng,có",  # update: permission + description
        "101,salea,mobile,100,,Group A,,true",  # unchanged
        "103,kd03,landline,105,,,Mới,true",  # create, supervised by the next row
        "105,kd05,internal,,,,,không",  # create
        "106,bad alias,mobile,,,,,true",  # error
    )
    before = snapshot_db()
    result = import_preview(hotline=world.hotline_a, data=text.encode())
    assert snapshot_db() == before
    rows = by_number(result)
    assert [r.line for r in result.rows] == [2, 3, 4, 5, 6]
    assert rows["100"].action == RowAction.UPDATE
    assert rows["100"].changes == {
        "call_permission": ["mobile", "international"],
        "description": ["", "Trưởng phòng"],
    }
    assert rows["101"].action == RowAction.UNCHANGED
    assert rows["103"].action == RowAction.CREATE
    assert rows["103"].changes["supervisor"] == ["", "105"]
    assert rows["105"].changes["enabled"] == ["", "false"]
    assert rows["106"].action == RowAction.ERROR
    assert any("spaces" in error for error in rows["106"].errors)
    assert result.counts == {"create": 2, "update": 1, "unchanged": 1, "error": 1}
    assert not result.ok
    # What an import job keeps of it: each row as dataclasses.asdict would make it.
    assert [row.as_dict() for row in result.rows] == [asdict(row) for row in result.rows]
    assert ImportResult.from_dict(result.as_dict()) == result


def test_apply_creates_and_updates_with_audits(world):
    hotline = world.hotline_a
    text = csv_text(
        "100,bossa,international,,,,Trưởng phòng,có",
        "103,kd03,landline,105,,,Mới,true",
        "105,kd05,internal,,,Group A,,không",
        header=HEADER,
    )
    result = import_apply(hotline=hotline, data=text, filename="staff.csv")
    assert result.applied
    e100 = Extension.objects.get(hotline=hotline, number="100")
    assert e100.call_permission == CallPermission.INTERNATIONAL
    assert e100.description == "Trưởng phòng"
    assert e100.version == 2
    e103 = Extension.objects.get(hotline=hotline, number="103")
    e105 = Extension.objects.get(hotline=hotline, number="105")
    assert e103.supervisor == e105
    assert e105.enabled is False
    assert list(e105.outbound_groups.all()) == [world.group_a]
    assert len(e103.get_sip_password()) >= 16
    audits = AuditEvent.objects.filter(object_type="extensions.extension")
    assert audits.filter(action=Action.CREATE, object_id__in=[str(e103.pk), str(e105.pk)]).count() == 2
    assert audits.get(action=Action.CREATE, object_id=str(e103.pk)).changes["supervisor"] == [None, "105"]
    assert audits.get(action=Action.UPDATE, object_id=str(e100.pk)).changes["call_permission"] == [3, 4]
    assert AuditEvent.objects.get(action=Action.IMPORT).changes["file"] == ["", "staff.csv"]


def test_apply_is_all_or_nothing(world):
    text = csv_text("100,bossa,internal,,,,,true", "103,kd03,mobile,,,,,true", "104,kd04,mobile,,,,,maybe")
    before = snapshot_db()
    result = import_apply(hotline=world.hotline_a, data=text)
    assert not result.applied
    assert by_number(result)["104"].errors == [
        "Enabled: “maybe” is not yes or no; use true/false, 1/0, yes/no or có/không."
    ]
    assert snapshot_db() == before


def test_partial_columns_update_only_those_fields(world):
    text = csv_text("101,false", "102,no", header="number,enabled")
    result = import_apply(hotline=world.hotline_a, data=text)
    assert result.applied
    e101 = Extension.objects.get(pk=world.ext_a["101"].pk)
    assert (e101.enabled, e101.supervisor_id, e101.alias) == (False, world.ext_a["100"].pk, "salea")
    assert list(e101.outbound_groups.all()) == [world.group_a]


def test_a_new_row_needs_an_alias(world):
    result = import_preview(hotline=world.hotline_a, data=csv_text("150,false", header="number,enabled"))
    assert by_number(result)["150"].errors == ["Alias: This field cannot be blank."]


def test_typed_passwords_must_pass_the_policy(world):
    header = HEADER + ",password"
    text = csv_text(
        "100,bossa,mobile,,,,,true,short",
        "103,kd03,mobile,,,,,true,Kd03Kd03Kd03",
        "104,kd04,mobile,,,,,true,Xanh-Duong-2024",
        "105,kd05,mobile,,,,,true,",
        header=header,
    )
    rows = by_number(import_preview(hotline=world.hotline_a, data=text))
    assert any("at least 10" in e for e in rows["100"].errors)
    assert any("alias" in e for e in rows["103"].errors)
    assert rows["104"].action == RowAction.CREATE and rows["104"].changes["password"][1]
    assert rows["105"].action == RowAction.CREATE
    good = csv_text("100,bossa,mobile,,,,,true,Xanh-Duong-2024", "105,kd05,mobile,,,,,true,", header=header)
    assert import_apply(hotline=world.hotline_a, data=good).applied
    assert Extension.objects.get(pk=world.ext_a["100"].pk).get_sip_password() == "Xanh-Duong-2024"
    assert len(Extension.objects.get(hotline=world.hotline_a, number="105").get_sip_password()) >= 16
    # The preview never holds a password.
    assert "Xanh-Duong-2024" not in str(import_preview(hotline=world.hotline_a, data=good).as_dict())


def test_supervisor_rules_apply_across_rows(world):
    rows = by_number(
        import_preview(
            hotline=world.hotline_a,
            data=csv_text(
                "100,bossa,mobile,101,,,,true",  # 101 is supervised by 100: a cycle
                "103,kd03,mobile,103,,,,true",  # itself (a new row)
                "104,kd04,mobile,999,,,,true",  # unknown
                "105,kd05,mobile,106,,,,true",
                "106,kd06,mobile,105,,,,true",  # a cycle of new rows
            ),
        )
    )
    assert "cycle" in rows["100"].errors[0]
    assert "itself" in rows["103"].errors[0]
    assert "not an extension of this hotline" in rows["104"].errors[0]
    assert "cycle" in rows["105"].errors[0] and "cycle" in rows["106"].errors[0]


def test_unknown_caller_ids_and_other_tenants_are_refused(world):
    rows = by_number(
        import_preview(
            hotline=world.hotline_a,
            data=csv_text(
                f"100,bossa,mobile,,{world.hotline_b.number},Group B,,true",
                f"102,kda,mobile,,{world.hotline_a2.display_number};{world.hotline_a.number},group a,,true",
            ),
        )
    )
    assert rows["100"].errors == [
        f"Caller-ID hotlines: “{world.hotline_b.number}” is not one of your hotlines.",
        "Caller-ID number groups: “Group B” is not one of your number groups.",
    ]
    assert rows["102"].action == RowAction.UPDATE  # any spelling, any case


def test_aliases_must_stay_unique_on_the_hotline(world):
    rows = by_number(
        import_preview(
            hotline=world.hotline_a,
            data=csv_text(
                "103,salea,mobile,,,,,true",  # taken by 101
                "104,new1,mobile,,,,,true",
                "105,new1,mobile,,,,,true",  # twice in the file
            ),
        )
    )
    assert "already used" in rows["103"].errors[0]
    assert "already used" in rows["104"].errors[0] and "already used" in rows["105"].errors[0]
    swap = import_preview(
        hotline=world.hotline_a,
        data=csv_text("101,kda,mobile,100,,Group A,,true", "102,salea,mobile,,,,,true"),
    )
    assert swap.ok


# --- hostile files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"", "empty"),
        (b"   \r\n", "empty"),
        (HEADER.encode(), "header but no rows"),
        ((HEADER + "\r\n\r\n").encode(), "header but no rows"),
        ("number,alias,description\r\n100,a,Nhân viên\r\n".encode("cp1252"), "not UTF-8"),
        ("number,alias\r\n100,Nguyễn\r\n".encode("utf-16"), "not UTF-8"),
        (b"numero,alias\r\n100,a\r\n", "Unknown column(s): “numero”"),
        (b"alias,enabled\r\nsale1,true\r\n", "name the column(s) number"),
        (b"number,alias,alias\r\n100,a,b\r\n", "more than once: alias"),
        (b"number,alias,colour\r\n100,a,red\r\n", "colour"),
        (b'number,alias\r\n100,"unterminated\r\n', "not valid CSV"),
        (b"number,alias\r\n100,a\x00b\r\n", "NUL characters"),
    ],
)
def test_unreadable_files_are_refused_whole(world, data, fragment):
    before = snapshot_db()
    result = import_apply(hotline=world.hotline_a, data=data)
    assert not result.applied and not result.rows
    assert any(fragment in error for error in result.file_errors), result.file_errors
    assert snapshot_db() == before


def test_bom_and_semicolons_are_read(world):
    text = '\ufeffnumber;alias;description\r\n103;kd03;"Phòng A; tầng 2"\r\n'
    rows = by_number(import_preview(hotline=world.hotline_a, data=text.encode("utf-8")))
    assert rows["103"].changes["description"] == ["", "Phòng A; tầng 2"]


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@SUM(A1)", "\t=1"])
def test_formula_cells_are_refused(world, cell):
    escaped = '"' + cell.replace('"', '""') + '"'
    result = import_apply(hotline=world.hotline_a, data=csv_text(f"103,kd03,mobile,,,,{escaped},true"))
    assert not result.applied
    [error] = result.rows[0].errors
    assert "formula" in error and "description" in error


def test_a_quoted_formula_is_text(world):
    result = import_apply(hotline=world.hotline_a, data=csv_text("103,kd03,mobile,,,,'=1+1,true"))
    assert result.applied
    assert Extension.objects.get(hotline=world.hotline_a, number="103").description == "=1+1"


def test_duplicate_numbers_in_the_file_are_errors_on_every_line(world):
    before = snapshot_db()
    result = import_apply(
        hotline=world.hotline_a,
        data=csv_text("103,kd03,mobile,,,,,true", "104,kd04,mobile,,,,,true", "103,kd033,mobile,,,,,true"),
    )
    assert not result.applied
    rows = result.rows
    assert "lines 2, 4" in rows[0].errors[0] and "lines 2, 4" in rows[2].errors[0]
    assert not rows[1].errors
    assert snapshot_db() == before


def test_rows_with_the_wrong_number_of_cells_are_errors(world):
    result = import_preview(
        hotline=world.hotline_a, data=csv_text("103,kd03", "104,kd04,mobile,,,,,true,extra")
    )
    assert "has 2 cells; the header has 8" in result.rows[0].errors[0]
    assert "has 9 cells" in result.rows[1].errors[0]


def test_100000_rows_are_refused_before_being_read(world):
    data = (
        HEADER + "\r\n" + "".join(f"{100000 + i},a{i},mobile,,,,,true\r\n" for i in range(100_000))
    ).encode()
    assert len(data) < csvio.MAX_BYTES  # refused for its rows, not its size
    before = snapshot_db()
    result = import_apply(hotline=world.hotline_a, data=data)
    assert result.file_errors == ["The file has more than 20000 rows; split it into smaller files."]
    assert snapshot_db() == before


def test_files_over_5_mb_are_refused(world):
    data = (HEADER + "\r\n").encode() + b"100,a,mobile,,,," + b"x" * csvio.MAX_BYTES + b",true\r\n"
    result = import_preview(hotline=world.hotline_a, data=data)
    assert "the limit is 5 MB" in result.file_errors[0]


# --- jobs ----------------------------------------------------------------------------------------


def test_a_job_keeps_the_file_encrypted_until_applied(world):
    text = csv_text("103,kd03,mobile,,,,Ghi chú,true", header=HEADER)
    job = import_job_create(hotline=world.hotline_a, user=world.admin_a, filename="a.csv", data=text.encode())
    assert "Ghi chú" not in job.csv_encrypted and job.get_csv() == text
    assert job.summary["counts"]["create"] == 1
    result = import_job_apply(job=job)
    job.refresh_from_db()
    assert result.applied and job.status == ImportStatus.APPLIED and job.csv_encrypted == ""
    assert Extension.objects.filter(hotline=world.hotline_a, number="103").exists()


def test_a_job_refused_on_apply_writes_nothing(world):
    job = import_job_create(
        hotline=world.hotline_a,
        user=world.admin_a,
        filename="a.csv",
        data=csv_text("103,kd03,mobile,,,,,true").encode(),
    )
    Extension.objects.create(hotline=world.hotline_a, number="999", alias="kd03")  # meanwhile
    before = snapshot_db()
    result = import_job_apply(job=job)
    job.refresh_from_db()
    assert not result.applied and job.status == ImportStatus.FAILED
    assert "already used" in job.summary["rows"][0]["errors"][0]
    assert snapshot_db() == before


def test_an_unreadable_upload_makes_no_job(world):
    with pytest.raises(Exception) as err:
        import_job_create(hotline=world.hotline_a, user=world.admin_a, filename="a.csv", data=b"")
    assert "empty" in str(err.value)
    assert not ImportJob.objects.exists()


def test_import_scales_by_batches_not_rows():
    """A create of 2,000 rows and an update of all of them, in a bounded number of queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    hotline = HotlineFactory()

    def run(data):
        with CaptureQueriesContext(connection) as ctx:
            result = import_apply(hotline=hotline, data=data)
        assert result.applied, result.rows[:3]
        return len(ctx.captured_queries)

    create = run(
        csv_text(*(f"{1000 + i},a{i},mobile,{1000 if i else ''},,,Nhân viên {i},true" for i in range(2000)))
    )
    assert create < 40
    update = run(csv_text(*(f"{1000 + i},a{i},landline,,,,,false" for i in range(2000))))
    assert update < 40
    assert not Extension.objects.filter(hotline=hotline, enabled=True).exists()


# --- no lost update between preview and apply ----------------------------------------------------


def test_an_edit_made_after_the_preview_is_not_undone_by_the_apply(world):
    """An admin previews a file, someone else edits an extension it names, the admin applies:
    the apply refuses (all or nothing), names the extension, and the edit stands."""
    from extensions.imports import import_job_apply, import_job_create
    from extensions.services import extension_create, extension_update

    hotline = world.hotline_a
    job = import_job_create(
        hotline=hotline,
        user=world.admin_a,
        filename="f.csv",
        data=csv_text("101,,,,,,from the file,", "102,,,,,,also from the file,", "150,new150,,,,,,"),
    )
    assert job.summary["versions"]["101"] == world.ext_a["101"].version
    extension_update(extension=world.ext_a["101"], data={"description": "edited meanwhile"})
    extension_create(hotline=hotline, number="150", alias="other150")
    result = import_job_apply(job=job)
    assert not result.applied
    errors = {row.number: " ".join(row.errors) for row in result.rows if row.errors}
    assert set(errors) == {"101", "150"}
    assert "101 was changed after the preview" in errors["101"]
    assert "150 was created by someone else after the preview" in errors["150"]
    assert Extension.objects.get(pk=world.ext_a["101"].pk).description == "edited meanwhile"
    assert Extension.objects.get(pk=world.ext_a["102"].pk).description != "also from the file"


def test_an_apply_with_nothing_changed_since_the_preview_goes_through(world):
    from extensions.imports import import_job_apply, import_job_create

    job = import_job_create(
        hotline=world.hotline_a,
        user=world.admin_a,
        filename="f.csv",
        data=csv_text("101,,,,,,from the file,"),
    )
    assert import_job_apply(job=job).applied
    assert Extension.objects.get(pk=world.ext_a["101"].pk).description == "from the file"
