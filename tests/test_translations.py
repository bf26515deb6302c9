"""Every string the dashboard shows has its Vietnamese translation, and the compiled catalogue
is the one the sources say (the tests of the pages read the compiled .mo, so a stale .mo or an
entry that makemessages would mark fuzzy goes unseen otherwise)."""

import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PO = Path(settings.BASE_DIR) / "locale" / "vi" / "LC_MESSAGES" / "django.po"


def _entries(po_text: str) -> list[str]:
    """The msgid (and msgctxt) text of each entry of a .po text, but the header."""
    found = []
    for entry in po_text.split("\n\n"):
        lines = [line for line in entry.splitlines() if line and not line.startswith("#")]
        text = []
        for line in lines:
            if line.startswith(("msgstr", "msgid_plural")):
                break
            text.append(line)
        if text and text != ['msgid ""']:
            found.append(" ".join(text))
    return found


def test_every_translatable_string_has_a_vietnamese_translation(tmp_path):
    """makemessages over a copy of the sources finds no untranslated or fuzzy entry."""
    base = Path(settings.BASE_DIR)
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=base, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        source = base / name.decode()
        if source.is_file():
            target = tmp_path / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "vi", "--no-obsolete"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "1", "HOME": str(tmp_path)},
    )
    po = tmp_path / "locale" / "vi" / "LC_MESSAGES" / "django.po"
    missing = []
    for option in ("--untranslated", "--only-fuzzy"):
        out = subprocess.run(
            ["msgattrib", option, "--no-obsolete", str(po)],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        missing += _entries(out)
    assert not missing, "Untranslated or fuzzy in Vietnamese:\n" + "\n".join(missing)


def test_the_compiled_catalogue_matches_the_sources(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(compiled), str(PO)], check=True)
    assert compiled.read_bytes() == PO.with_suffix(".mo").read_bytes(), (
        "locale/vi/LC_MESSAGES/django.mo is stale: run "
        "`DJANGO_DEBUG=1 .venv/bin/python manage.py compilemessages --ignore=.venv`"
    )
