#!/usr/bin/env python
"""mypy against a committed baseline that only shrinks.

    make mypy            # fails on any mypy error that mypy-baseline.txt does not list
    make mypy-baseline   # rewrites mypy-baseline.txt from today's errors

An error's key is its file, its error code and its message, without the line number, so an
edit elsewhere in the file does not move a known error out of the baseline. Identical keys are
counted: a second copy of a known error in the same file is a new error. Errors that are gone
do not fail the check; it says the baseline can shrink.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "mypy-baseline.txt"
# Flags that fix the shape of the output this script reads, whatever mypy.ini says.
MYPY_ARGS = ["--no-pretty", "--no-color-output", "--show-error-codes", "--no-error-summary"]
HEADER = (
    "# mypy errors accepted for now (tools/mypy_baseline.py): count, file, [code], message.\n"
    "# It only shrinks: fix an error, then `make mypy-baseline`. Never add lines by hand.\n"
)

Key = tuple[str, str, str]  # (file, code, message)

# path:line[:column[:end_line:end_column]]: error: message  [code]; a file-level error has no line.
_ERROR = re.compile(
    r"^(?P<path>[^:\s][^:]*?)(?::(?P<line>\d+))?(?::\d+)*: error: (?P<message>.*?)"
    r"(?:  \[(?P<code>[a-z0-9-]+)\])?$"
)
# A message that names another line ("already defined on line 12") moves with unrelated edits.
_LINE_REFERENCE = re.compile(r"\bline \d+")
_BASELINE_LINE = re.compile(r"^\s*(?P<count>\d+) (?P<path>.+?) \[(?P<code>[a-z0-9-]*)\] (?P<message>.*)$")


@dataclass(frozen=True)
class MypyError:
    path: str
    line: int
    code: str
    message: str

    @property
    def key(self) -> Key:
        return (self.path, self.code, self.message)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: error: {self.message}  [{self.code}]"


@dataclass(frozen=True)
class Comparison:
    """Today's errors against the baseline: keys seen more often than it allows, and fewer."""

    errors: list[MypyError]
    new: Counter[Key]
    fixed: Counter[Key]

    @property
    def passed(self) -> bool:
        """Nothing above the baseline; errors below it (fixed ones) do not fail the check."""
        return not self.new

    def report(self) -> str:
        lines = []
        if self.new:
            lines.append(f"mypy: {sum(self.new.values())} new error(s), not in {BASELINE.name}:")
            for key, extra in sorted(self.new.items()):
                seen = [error for error in self.errors if error.key == key]
                lines.extend(str(error) for error in seen)
                if extra < len(seen):
                    lines.append(f"  ({extra} of these {len(seen)} are new; the baseline allows the rest)")
            lines.append(
                "Fix them (a `# type: ignore[code]` needs a comment saying why). The baseline only shrinks."
            )
        if self.fixed:
            lines.append(
                f"mypy: {sum(self.fixed.values())} error(s) in {BASELINE.name} are gone: "
                "shrink it with `make mypy-baseline`."
            )
        if not lines:
            lines.append(f"mypy: {len(self.errors)} error(s), all in {BASELINE.name}.")
        return "\n".join(lines)


def parse_mypy_output(output: str) -> list[MypyError]:
    """The errors in mypy's text output; notes, summaries and anything else are skipped."""
    errors = []
    for raw in output.splitlines():
        match = _ERROR.match(raw.rstrip())
        if not match:
            continue
        path = Path(match["path"]).as_posix().removeprefix("./")
        message = _LINE_REFERENCE.sub("line N", match["message"].strip())
        errors.append(MypyError(path, int(match["line"] or 0), match["code"] or "", message))
    return errors


def count_keys(errors: list[MypyError]) -> Counter[Key]:
    return Counter(error.key for error in errors)


def parse_baseline(text: str) -> Counter[Key]:
    counts: Counter[Key] = Counter()
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        match = _BASELINE_LINE.match(raw)
        if not match:
            raise ValueError(f"{BASELINE.name}:{number}: not `count file [code] message`: {raw!r}")
        counts[(match["path"], match["code"], match["message"])] += int(match["count"])
    return counts


def format_baseline(counts: Counter[Key]) -> str:
    """One line per key, sorted by file, code and message: the same errors give the same file."""
    body = "".join(
        f"{count:>4} {path} [{code}] {message}\n"
        for (path, code, message), count in sorted(counts.items())
        if count > 0
    )
    return HEADER + body


def compare(errors: list[MypyError], baseline: Counter[Key]) -> Comparison:
    current = count_keys(errors)
    # Counter subtraction keeps only positive counts: above the baseline, and below it.
    return Comparison(errors=errors, new=current - baseline, fixed=baseline - current)


def read_mypy_run(returncode: int, output: str) -> list[MypyError] | None:
    """The errors of a mypy run, or None if mypy did not run to the end.

    mypy exits 0 without errors and 1 with some. Anything else (a crash, a bad config, settings
    that do not import), or 1 with no error this script can read, must not pass as "nothing new".
    """
    errors = parse_mypy_output(output)
    if returncode not in (0, 1) or (returncode == 1 and not errors):
        return None
    return errors


def run_mypy() -> list[MypyError]:
    """The errors mypy finds in the tree (files and options from mypy.ini); exits 2 if it failed."""
    proc = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "mypy", *MYPY_ARGS], cwd=ROOT, capture_output=True, text=True, check=False
    )
    sys.stderr.write(proc.stderr)
    errors = read_mypy_run(proc.returncode, proc.stdout)
    if errors is None:
        sys.stderr.write(proc.stdout)
        sys.stderr.write(f"mypy did not run to the end (exit {proc.returncode}).\n")
        sys.exit(2)
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--update", action="store_true", help=f"rewrite {BASELINE.name} from today's errors")
    args = parser.parse_args(argv)

    errors = run_mypy()
    baseline = parse_baseline(BASELINE.read_text(encoding="utf-8")) if BASELINE.exists() else Counter()
    comparison = compare(errors, baseline)
    if args.update:
        BASELINE.write_text(format_baseline(count_keys(errors)), encoding="utf-8")
        print(
            f"{BASELINE.name}: {len(errors)} error(s) (was {sum(baseline.values())}: "
            f"{sum(comparison.fixed.values())} gone, {sum(comparison.new.values())} added)."
        )
        return 0
    print(comparison.report())
    return 0 if comparison.passed else 1


if __name__ == "__main__":
    sys.exit(main())
