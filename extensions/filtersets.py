import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from hotlines.models import Hotline
from hotlines.selectors import hotline_choices
from tenants.selectors import membership_for

from .choices import CallPermission
from .models import Extension

CALL_PERMISSION_SLUGS = [(p.slug, p.label) for p in CallPermission]


def _hotline_choices(request):
    """With a request (the API), only the user's own tenant's hotlines are valid choices, so
    another tenant's hotline id is refused like an unknown one instead of filtering to an
    empty page (which would tell that the id exists). The list being filtered is
    tenant-scoped either way."""
    if request is None:
        return Hotline.objects.all()
    membership = membership_for(request.user)
    if membership is None:
        return Hotline.objects.none()
    return hotline_choices(tenant_id=membership.tenant_id)


class ExtensionFilterSet(django_filters.FilterSet):
    """Filters shared by the extension list page and the extensions API."""

    search = django_filters.CharFilter(
        method="filter_search", label=_("Search"), max_length=64,
        help_text=_("Extension number (prefix) or alias (any part)."),
    )
    call_permission = django_filters.ChoiceFilter(
        choices=CALL_PERMISSION_SLUGS, method="filter_call_permission", label=_("Call permission"),
    )
    enabled = django_filters.BooleanFilter(label=_("Enabled"))
    hotline = django_filters.ModelChoiceFilter(queryset=_hotline_choices, label=_("Hotline"))

    class Meta:
        model = Extension
        fields = ["search", "call_permission", "enabled", "hotline"]

    def filter_search(self, queryset, name, value: str):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(number__startswith=value) | Q(alias__icontains=value))

    def filter_call_permission(self, queryset, name, value: str):
        return queryset.filter(call_permission=CallPermission.from_slug(value))
