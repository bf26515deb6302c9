"""tools/mypy_baseline.py: mypy's output against a baseline that only shrinks (no mypy run here)."""

from tools.mypy_baseline import (
    BASELINE,
    compare,
    count_keys,
    format_baseline,
    parse_baseline,
    parse_mypy_output,
    read_mypy_run,
)

# Today's mypy output, as `make mypy` gets it (plus the noise it must skip).
OUTPUT = """\
core/services.py:17: error: Item "None" of "Field | None" has no attribute "column"  [union-attr]
core/services.py:81: error: Item "None" of "Field | None" has no attribute "column"  [union-attr]
core/services.py:81: note: See https://mypy.rtfd.io/en/stable/_refs.html#code-union-attr for more info
extensions/forms.py:67: error: "Field" has no attribute "queryset"  [attr-defined]
tests/api.py:16: error: Name "token" already defined on line 12  [no-redef]
Found 4 errors in 3 files (checked 195 source files)
"""


def check(output: str, baseline_output: str) -> tuple[bool, str]:
    """Whether `make mypy` passes on `output` with a baseline made from `baseline_output`."""
    baseline = parse_baseline(format_baseline(count_keys(parse_mypy_output(baseline_output))))
    comparison = compare(parse_mypy_output(output), baseline)
    return comparison.passed, comparison.report()


def test_parse_keeps_errors_and_drops_line_numbers_notes_and_summary() -> None:
    errors = parse_mypy_output(OUTPUT)
    assert [(e.path, e.line, e.code) for e in errors] == [
        ("core/services.py", 17, "union-attr"),
        ("core/services.py", 81, "union-attr"),
        ("extensions/forms.py", 67, "attr-defined"),
        ("tests/api.py", 16, "no-redef"),
    ]
    # A line named inside the message is not part of the key either.
    assert errors[3].key == ("tests/api.py", "no-redef", 'Name "token" already defined on line N')


def test_parse_reads_columns_file_level_errors_and_errors_without_a_code() -> None:
    errors = parse_mypy_output(
        "./sip/kamailio.py:251:9: error: Item None has no attribute poll  [union-attr]\n"
        "pbx_admin/settings.py: error: Duplicate module named settings\n"
    )
    assert [(e.path, e.line, e.code, e.message) for e in errors] == [
        ("sip/kamailio.py", 251, "union-attr", "Item None has no attribute poll"),
        ("pbx_admin/settings.py", 0, "", "Duplicate module named settings"),
    ]


def test_same_errors_pass() -> None:
    passed, report = check(OUTPUT, OUTPUT)
    assert passed
    assert f"4 error(s), all in {BASELINE.name}" in report


def test_moved_lines_pass() -> None:
    """Lines added above known errors move them; the key has no line number, so nothing is new."""
    moved = OUTPUT.replace(":17:", ":40:").replace(":81:", ":104:").replace("line 12", "line 30")
    assert check(moved, OUTPUT)[0]


def test_new_error_fails_and_is_listed_with_its_line() -> None:
    new = 'hotlines/views.py:52: error: Argument "tenant_id" has incompatible type "int | None"  [arg-type]\n'
    passed, report = check(OUTPUT + new, OUTPUT)
    assert not passed
    assert "1 new error(s)" in report
    assert new.strip() in report


def test_another_copy_of_a_known_error_fails() -> None:
    """The baseline counts each key: a third copy of an error it allows twice is new."""
    copy = (
        'core/services.py:120: error: Item "None" of "Field | None" has no attribute "column"  [union-attr]\n'
    )
    passed, report = check(OUTPUT + copy, OUTPUT)
    assert not passed
    assert "core/services.py:120:" in report
    assert "1 of these 3 are new" in report


def test_same_message_in_another_file_or_code_fails() -> None:
    elsewhere = OUTPUT + 'hotlines/forms.py:28: error: "Field" has no attribute "queryset"  [attr-defined]\n'
    assert not check(elsewhere, OUTPUT)[0]
    other_code = OUTPUT + 'extensions/forms.py:67: error: "Field" has no attribute "queryset"  [union-attr]\n'
    assert not check(other_code, OUTPUT)[0]


def test_fewer_errors_pass_and_say_the_baseline_can_shrink() -> None:
    fixed = "".join(line for line in OUTPUT.splitlines(keepends=True) if ":17:" not in line)
    passed, report = check(fixed, OUTPUT)
    assert passed
    assert "1 error(s) in mypy-baseline.txt are gone" in report
    assert "make mypy-baseline" in report


def test_fix_one_add_another_fails() -> None:
    """A fixed error is no credit for a different new one."""
    swapped = OUTPUT.replace('"queryset"', '"choices"')
    assert not check(swapped, OUTPUT)[0]


def test_baseline_file_round_trips_in_one_order() -> None:
    errors = parse_mypy_output(OUTPUT)
    text = format_baseline(count_keys(errors))
    assert parse_baseline(text) == count_keys(errors)
    assert "   2 core/services.py [union-attr] " in text
    # The same errors found in another order write the same file (no churn in its diff).
    assert format_baseline(count_keys(errors[::-1])) == text


def test_committed_baseline_is_in_canonical_form() -> None:
    """mypy-baseline.txt is what `make mypy-baseline` writes: hand edits would not survive it."""
    text = BASELINE.read_text(encoding="utf-8")
    assert format_baseline(parse_baseline(text)) == text


def test_a_mypy_run_that_did_not_finish_is_not_a_pass() -> None:
    """A crash or a settings module that does not import must not read as "no new errors"."""
    assert read_mypy_run(0, "") == []
    assert len(read_mypy_run(1, OUTPUT) or []) == 4
    assert read_mypy_run(2, "mypy.ini: [mypy]: Unrecognized option: plugin = x\n") is None
    assert read_mypy_run(2, OUTPUT) is None
    assert read_mypy_run(1, "Traceback (most recent call last):\n  ImproperlyConfigured: ...\n") is None
