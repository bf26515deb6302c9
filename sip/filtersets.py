"""The call history's filters: one FilterSet for the history pages, the CSV export and the API;
and the security events' for the SIP security page and the API."""

import datetime as dt

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from extensions.filtersets import IdFilter

from .call_records import calls_of_extension
from .choices import CallDirection, Disposition, SecurityEventKind
from .models import Call, SecurityEvent


class UtcDateTimeField(forms.DateTimeField):
    """A date and time, in UTC once read: Python accepts UTC offsets up to ±23:59, PostgreSQL
    only up to ±15:59, so an offset such as -18:33 is converted here instead of failing there."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is None or timezone.is_naive(result):
            return result
        try:
            return result.astimezone(dt.UTC)
        except OverflowError as exc:  # e.g. 9999-12-31T23:00-05:00 is past the year 9999 in UTC
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class UtcDateTimeFilter(django_filters.DateTimeFilter):
    field_class = UtcDateTimeField


def until(queryset: QuerySet, field: str, raw: str, value: dt.datetime) -> QuerySet:
    """`field` up to `value`, inclusive; a date alone (`raw`) includes that whole day."""
    if len(raw.strip()) <= 10:  # a date alone: the whole day
        if value.date() >= dt.date.max:  # the last day there is: no end
            return queryset
        return queryset.filter(**{f"{field}__lt": value + dt.timedelta(days=1)})
    return queryset.filter(**{f"{field}__lte": value})


class CallFilterSet(django_filters.FilterSet):
    """`since`/`until` (a date or a date and time; `until` a date includes that whole day),
    `direction`, `disposition`, `number` (the caller or the callee, exactly),
    and for the API `extension` and `hotline` (ids)."""

    since = UtcDateTimeFilter(
        field_name="started_at",
        lookup_expr="gte",
        label=_("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = UtcDateTimeFilter(
        field_name="started_at",
        label=_("To"),
        method="filter_until",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    direction = django_filters.ChoiceFilter(choices=CallDirection.choices, label=_("Direction"))
    disposition = django_filters.ChoiceFilter(choices=Disposition.choices, label=_("Result"))
    number = django_filters.CharFilter(method="filter_number", label=_("Number"), max_length=64)
    extension = IdFilter(method="filter_extension", label=_("Extension"))
    hotline = IdFilter(field_name="hotline_id", label=_("Hotline"))

    class Meta:
        model = Call
        fields: list[str] = []

    def filter_until(self, queryset: QuerySet[Call], name, value) -> QuerySet[Call]:
        return until(queryset, "started_at", self.data.get("until", ""), value)

    def filter_number(self, queryset: QuerySet[Call], name, value: str) -> QuerySet[Call]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(caller=value) | Q(callee=value))

    def filter_extension(self, queryset: QuerySet[Call], name, value: int) -> QuerySet[Call]:
        return queryset.filter(calls_of_extension(value))


class IpAddressFilter(django_filters.CharFilter):
    """An IPv4 or IPv6 address, exactly (anything else is a 400, not a database error)."""

    field_class = forms.GenericIPAddressField


class SecurityEventFilterSet(django_filters.FilterSet):
    """The security events' filters, for the SIP security page and the API: `kind`,
    `source_ip`, `number` (the extension number tried, exactly) and `since`/`until` as the call
    history's (a date or a date and time; `until` a date includes that whole day)."""

    kind = django_filters.ChoiceFilter(
        choices=SecurityEventKind.choices, label=_("Kind"), empty_label=_("All kinds")
    )
    source_ip = IpAddressFilter(label=_("Source IP"))
    number = django_filters.CharFilter(field_name="username", label=_("Extension number"), max_length=64)
    since = UtcDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        label=_("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = UtcDateTimeFilter(
        field_name="created_at",
        label=_("To"),
        method="filter_until",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = SecurityEvent
        fields: list[str] = []

    def filter_until(self, queryset: QuerySet[SecurityEvent], name, value) -> QuerySet[SecurityEvent]:
        return until(queryset, "created_at", self.data.get("until", ""), value)
