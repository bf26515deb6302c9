import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .choices import Action
from .models import AuditEvent


class AuditEventFilterSet(django_filters.FilterSet):
    """Filters of the audit page and the audit API."""

    action = django_filters.ChoiceFilter(
        choices=Action.choices, label=_("Action"), empty_label=_("All actions")
    )
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="iexact", label=_("Who"))
    object = django_filters.CharFilter(method="filter_object", label=_("Object"), max_length=100)
    since = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label=_("From"),
        # <input type="date"> takes ISO whatever the language shows.
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    until = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__lte",
        label=_("To"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "object", "since", "until"]

    def filter_object(self, queryset, name, value: str):
        value = value.strip()
        return queryset.filter(Q(object_repr__icontains=value) | Q(object_id=value)) if value else queryset
