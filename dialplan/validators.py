"""Dial rule patterns and replacements: what both Python's `re` and Kamailio's PCRE read the same.

Kamailio compiles every rule when it starts and on `dialplan.reload`; a pattern it cannot
compile fails the reload and, worse, stops a cold start. The dashboard classifies with
Python's `re`. So a pattern is accepted only when it keeps to a small common subset whose
meaning is identical in both engines, and compiles in Python:

- literals: ASCII letters and digits; `\\+ \\* \\. \\# \\? \\( \\) \\[ \\] \\{ \\} \\| \\^ \\$ \\\\ \\-`
- `\\d` (a digit; Python is told ASCII, as PCRE is without UCP), `.`
- character classes `[...]` of digits, letters, ranges, `+ * # .` and `\\d`, optionally negated
- groups `(...)` and `(?:...)`, at most 9 capturing, alternation `|`, anchors `^ $`
- quantifiers `? * +`, `{n}`, `{n,}`, `{n,m}` (n, m ≤ 255), each optionally lazy (`?`)

Anything else (look-arounds, named groups, inline flags, `\\b`, `\\A`, `\\Z`, POSIX classes,
possessive quantifiers, `{,m}`, stray `]` or `}`) is refused with a message saying what to write
instead. Replacements are digits, `+ * #` and group references `\\1`…`\\9` only: Kamailio would
read `$` as a variable and `\\0` means something else in each engine.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAX_GROUPS = 9
MAX_REPEAT = 255
_LITERAL = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ESCAPABLE = frozenset("+*.#?()[]{}|^$\\-")
_CLASS_LITERAL = _LITERAL | frozenset("+*#.")
_REPEAT_RE = re.compile(r"\{(\d{1,3})(,(\d{0,3}))?\}")
_REPLACEMENT_RE = re.compile(r"(?:[0-9+*#]|\\[1-9])+")


def compile_pattern(pattern: str) -> re.Pattern:
    """Python's reading of a rule pattern: ASCII `\\d`, like PCRE without UCP."""
    return re.compile(pattern, re.ASCII)


def _refuse(message: str, **params) -> ValidationError:
    return ValidationError(message, params=params, code="unsupported_regex")


def _check_class(pattern: str, start: int) -> int:
    """Check the character class opening at `start`; return the index after its `]`."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    members = 0
    while i < len(pattern) and pattern[i] != "]":
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped not in ("d", "-", "+", "*", ".", "#"):
                raise _refuse(
                    _(
                        "“\\%(char)s” is not allowed inside [...]; use digits, letters, "
                        "ranges such as 0-9, or \\d."
                    ),
                    char=escaped,
                )
            i += 2
        elif char == "-" and members and pattern[i + 1 : i + 2] not in ("]", ""):
            i += 1  # a range; Python checks its ends
            continue
        elif char in _CLASS_LITERAL or char == "-":
            i += 1
        elif char == "[":
            raise _refuse(_("POSIX classes such as [[:digit:]] are not supported; use [0-9]."))
        else:
            raise _refuse(_("“%(char)s” is not allowed inside [...]."), char=char)
        members += 1
    if i >= len(pattern):
        raise _refuse(_("A [ is not closed by ]."))
    if not members:
        raise _refuse(_("An empty [] matches nothing."))
    return i + 1


def validate_rule_pattern(pattern: str) -> None:
    """Refuse a pattern outside the common subset, or one Python cannot compile."""
    if not pattern:
        raise ValidationError(_("Enter a pattern."), code="required")
    if not pattern.isascii() or any(c.isspace() for c in pattern):
        raise _refuse(_("A pattern is ASCII without spaces."))
    i, groups, depth, can_repeat = 0, 0, 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped != "d" and escaped not in _ESCAPABLE:
                raise _refuse(
                    _(
                        "“\\%(char)s” is not supported; write \\d for a digit, or escape "
                        "only + * . # ? ( ) [ ] { } | ^ $ \\ -."
                    ),
                    char=escaped,
                )
            i, can_repeat = i + 2, True
        elif char == "[":
            i, can_repeat = _check_class(pattern, i), True
        elif char == "(":
            if pattern.startswith("(?:", i):
                i += 3
            elif pattern.startswith("(?", i):
                raise _refuse(
                    _(
                        "Only (...) and (?:...) groups are supported, not look-arounds, "
                        "named groups or inline flags."
                    )
                )
            else:
                groups += 1
                i += 1
            depth, can_repeat = depth + 1, False
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise _refuse(_("A ) has no matching (."))
            i, can_repeat = i + 1, True
        elif char in "?*+{":
            if not can_repeat:
                raise _refuse(_("“%(char)s” must follow something to repeat."), char=char)
            if char == "{":
                match = _REPEAT_RE.match(pattern, i)
                if match is None:
                    raise _refuse(_("A { must start a repeat count such as {4}, {4,} or {4,6}."))
                low, high = int(match.group(1)), match.group(3)
                if low > MAX_REPEAT or (high and int(high) > MAX_REPEAT):
                    raise _refuse(_("Repeat counts go up to %(max)d."), max=MAX_REPEAT)
                i = match.end()
            else:
                i += 1
            if pattern[i : i + 1] == "?":
                i += 1  # lazy: the same in both engines
            can_repeat = False
        elif char in "^$|":
            i, can_repeat = i + 1, False
        elif char == "." or char in _LITERAL:
            i, can_repeat = i + 1, True
        else:
            raise _refuse(
                _(
                    "“%(char)s” is not supported in a pattern; escape it (\\%(char)s) if "
                    "you mean the character."
                ),
                char=char,
            )
    if groups > MAX_GROUPS:
        raise _refuse(_("At most %(max)d groups in (...)."), max=MAX_GROUPS)
    try:
        compile_pattern(pattern)
    except re.error as exc:
        raise ValidationError(
            _("Not a valid regular expression: %(error)s."),
            params={"error": exc},
            code="invalid_regex",
        ) from exc


def validate_rule_replacement(replacement: str) -> None:
    """Digits, + * # and \\1…\\9: the same in Python's Match.expand and Kamailio's repl_exp."""
    if replacement and not _REPLACEMENT_RE.fullmatch(replacement):
        raise ValidationError(
            _("A replacement is made of digits, + * # and group references \\1 to \\9, e.g. 0\\1."),
            code="invalid_replacement",
        )


def replacement_groups(replacement: str) -> int:
    """The highest group a replacement refers to (0 if none)."""
    return max((int(n) for n in re.findall(r"\\([1-9])", replacement)), default=0)


# A number to check: digits with + * # (what a phone sends), after dropping the separators
# people type (0912 345 678, (024) 7300-1234).
DIALLED_MAX_LENGTH = 32
DIALLED_INPUT_MAX_LENGTH = 64
_SEPARATORS_RE = re.compile(r"[\s().\-]")
_DIALLABLE_RE = re.compile(rf"[0-9+*#]{{1,{DIALLED_MAX_LENGTH}}}")


def clean_dialled(text: str) -> str:
    """The number as a phone would send it: the separators people type are dropped."""
    return _SEPARATORS_RE.sub("", text or "")


def validate_dialled(text: str) -> str:
    """The cleaned number, or a ValidationError for anything a phone could not dial."""
    cleaned = clean_dialled(text)
    if not _DIALLABLE_RE.fullmatch(cleaned):
        raise ValidationError(
            _("Enter a number to dial: digits, optionally with + * or #, at most %(max)d."),
            params={"max": DIALLED_MAX_LENGTH},
            code="invalid_number",
        )
    return cleaned
