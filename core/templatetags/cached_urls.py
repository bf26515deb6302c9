"""`{% cached_url 'app:view' obj.pk %}`: Django's `{% url %}` for URLs whose arguments are ids,
built once per process (a template builtin, see settings.TEMPLATES).

A `{% url %}` costs about 40 µs: Django walks the view's patterns and checks each argument
against them. A dashboard page shows 15 or more links, and they are the same few view names on
every request. Here a view name is reversed once with placeholder ids, per URLconf and script
prefix, and each use puts the real ids into that text. Arguments that are not ints, and views
that do not take the placeholders, go through Django's `reverse()` as `{% url %}` would.

Measured (docs/performance.md, "Template caches"; bench/bench_template_caches.py): with the
per-process fragments, ~11 % of the list page's time; alone 2–9 %.
"""

import re
from functools import lru_cache

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

register = template.Library()

# Ids no row will have for a while, and that appear in no URL text.
_PLACEHOLDERS = ("2147480001", "2147480002", "2147480003")
_PLACEHOLDER_RE = re.compile("(" + "|".join(_PLACEHOLDERS) + ")")


@lru_cache(maxsize=1024)
def _reversed(viewname: str, count: int, prefix: str, urlconf) -> tuple[str | int, ...] | None:
    """The URL's text split around its arguments: texts, and ints for which argument goes there."""
    try:
        url = reverse(viewname, urlconf=urlconf, args=[int(p) for p in _PLACEHOLDERS[:count]])
    except NoReverseMatch:
        return None
    return tuple(
        _PLACEHOLDERS.index(part) if i % 2 else part for i, part in enumerate(_PLACEHOLDER_RE.split(url))
    )


def cached_reverse(viewname: str, *args) -> str:
    """reverse(viewname, args=args), memoised for int args."""
    if len(args) <= len(_PLACEHOLDERS) and all(type(arg) is int and arg >= 0 for arg in args):
        parts = _reversed(viewname, len(args), get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
        if parts is not None:
            return "".join(part if type(part) is str else str(args[part]) for part in parts)
    return reverse(viewname, args=args)


@register.simple_tag
def cached_url(viewname: str, *args) -> str:
    return cached_reverse(viewname, *args)
