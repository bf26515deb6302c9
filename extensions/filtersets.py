import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from .choices import CallPermission
from .models import Extension

CALL_PERMISSION_SLUGS = [(p.slug, p.label) for p in CallPermission]


class IdFilter(django_filters.Filter):
    """A database id: a whole number from 1 to the largest bigint (larger ones are a clear
    400, not a database error). The id is not looked up here; see ExtensionFilterSet."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


def search_extensions(queryset: QuerySet[Extension], value: str) -> QuerySet[Extension]:
    """Extensions whose number starts with the text or whose alias contains it (any case): the
    two halves are served by the number prefix index and the alias trigram index."""
    value = value.strip()
    if not value:
        return queryset
    return queryset.filter(Q(number__startswith=value) | Q(alias__icontains=value))


def filter_extensions(
    queryset: QuerySet[Extension],
    *,
    search: str = "",
    call_permission: str = "",
    enabled: bool | None = None,
) -> QuerySet[Extension]:
    """The extension list's filters, one meaning for the list page (its ExtensionFilterForm)
    and the API (ExtensionFilterSet): a search, a call permission slug, enabled or not."""
    queryset = search_extensions(queryset, search)
    if call_permission:
        queryset = queryset.filter(call_permission=CallPermission.from_slug(call_permission))
    if enabled is not None:
        queryset = queryset.filter(enabled=enabled)
    return queryset


class ExtensionFilterSet(django_filters.FilterSet):
    """Filters shared by the extension list page and the extensions API."""

    search = django_filters.CharFilter(
        method="filter_search",
        label=_("Search"),
        max_length=64,
        help_text=_("Extension number (prefix) or alias (any part)."),
    )
    call_permission = django_filters.ChoiceFilter(
        choices=CALL_PERMISSION_SLUGS,
        method="filter_call_permission",
        label=_("Call permission"),
    )
    enabled = django_filters.BooleanFilter(label=_("Enabled"), method="filter_enabled")
    # The list being filtered is tenant-scoped, so another tenant's hotline filters to nothing;
    # the API refuses such an id like an unknown one (400), checked only when no row came
    # back, so that a list costs no query for it (ExtensionViewSet.paginate_queryset).
    hotline = IdFilter(label=_("Hotline"), method="filter_hotline")

    class Meta:
        model = Extension
        fields = ["search", "call_permission", "enabled", "hotline"]

    def filter_hotline(self, queryset, name, value: int):
        return queryset.filter(hotline_id=value)

    def filter_search(self, queryset, name, value: str):
        return search_extensions(queryset, value)

    def filter_call_permission(self, queryset, name, value: str):
        return filter_extensions(queryset, call_permission=value)

    def filter_enabled(self, queryset, name, value: bool):
        return filter_extensions(queryset, enabled=value)
