"""The API's JSON parser: a body nested too deeply is a 400 like any other bad JSON."""

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No body of this API nests deeper than a few levels (an object of lists of objects); the
# limit is far above that and far below what would exhaust Python's recursion limit later
# (a serializer, an error message or the renderer walking the data).
MAX_DEPTH = 32


def _too_deep(data, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` levels deep (without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, refusing nesting deeper than MAX_DEPTH: `[[[[…]]]]` a hundred
    thousand levels deep made json.loads raise RecursionError, a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            too_deep = _too_deep(data, MAX_DEPTH)
        except RecursionError:  # deeper than json.loads itself can go
            too_deep = True
        if too_deep:
            raise ParseError(
                _("JSON parse error - nested deeper than %(limit)d levels.") % {"limit": MAX_DEPTH}
            )
        return data
