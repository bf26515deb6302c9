"""Template filters of the extension pages."""

from django import template
from django.utils.safestring import SafeString

from .. import tables

register = template.Library()


@register.filter
def extension_rows(page) -> SafeString:
    """The list page's table rows (see extensions.tables for why they are built in Python)."""
    return tables.extension_rows(page)
