"""Shapes of the hotlines and number-groups API; the rules live in hotlines.services."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from core.api.fields import TenantScopedPrimaryKeyRelatedField

from ..choices import Carrier, GroupStrategy
from ..models import SCHEDULE_NAME_MAX_LENGTH, Hotline, NumberGroup, Schedule
from ..selectors import hotline_choices, schedule_choices


class HotlineSerializer(serializers.ModelSerializer):
    """A hotline (đầu số); the platform operator manages them, so the API only reads."""

    # Declared so the schema allows "" (no carrier known), which read-only model fields lose.
    carrier = serializers.ChoiceField(choices=Carrier.choices, allow_blank=True, read_only=True)
    extension_count = serializers.IntegerField(read_only=True)
    outbound_schedule = serializers.IntegerField(
        source="outbound_schedule_id",
        allow_null=True,
        read_only=True,
        help_text=_("The outbound schedule of its extensions (id), unless theirs is set; null: always."),
    )

    class Meta:
        model = Hotline
        fields = [
            "id",
            "number",
            "name",
            "kind",
            "carrier",
            "sip_domain",
            "extension_count",
            "outbound_schedule",
        ]
        read_only_fields = fields


@extend_schema_serializer(component_name="HotlineWrite")
class HotlineWriteSerializer(serializers.Serializer):
    """What a tenant admin may change on a hotline: its extensions' default outbound schedule."""

    outbound_schedule = TenantScopedPrimaryKeyRelatedField(
        scope=schedule_choices,
        queryset=Schedule.objects.none(),
        allow_null=True,
        help_text=_("One of the tenant's schedules (id), or null: always open."),
    )


class NumberGroupSerializer(serializers.ModelSerializer):
    """A number group (nhóm đầu số) with its hotlines in order."""

    hotlines = serializers.SerializerMethodField()

    class Meta:
        model = NumberGroup
        fields = ["id", "name", "strategy", "hotlines"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_hotlines(self, group: NumberGroup) -> list[int]:
        # The selector prefetched the members in their order.
        return [member.hotline_id for member in group.members.all()]


@extend_schema_serializer(component_name="NumberGroupWrite")
class NumberGroupWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=NumberGroup._meta.get_field("name").max_length)
    strategy = serializers.ChoiceField(choices=GroupStrategy.choices, required=False)
    hotlines = TenantScopedPrimaryKeyRelatedField(
        scope=hotline_choices,
        queryset=Hotline.objects.none(),
        many=True,
        required=False,
        help_text=_("Ids of the tenant's hotlines, in the order the strategy uses them."),
    )


class ScheduleWindowSerializer(serializers.Serializer):
    days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        help_text=_("Weekdays, 0 = Monday … 6 = Sunday."),
    )
    start = serializers.CharField(help_text=_("HH:MM, Vietnam's time (Asia/Ho_Chi_Minh)."))
    end = serializers.CharField(help_text=_("HH:MM, exclusive; 24:00 = the end of the day; after start."))


class ScheduleSerializer(serializers.ModelSerializer):
    """An outbound schedule (lịch gọi ra): when calls out through the carrier are allowed."""

    windows = serializers.SerializerMethodField()
    holidays = serializers.SerializerMethodField()

    class Meta:
        model = Schedule
        fields = ["id", "name", "windows", "holidays"]
        read_only_fields = fields

    @extend_schema_field(ScheduleWindowSerializer(many=True))
    def get_windows(self, schedule: Schedule) -> list[dict]:
        return [w.as_dict() for w in schedule.window_values()]

    @extend_schema_field(serializers.ListField(child=serializers.DateField()))
    def get_holidays(self, schedule: Schedule) -> list[str]:
        return [d.isoformat() for d in schedule.holiday_dates()]


# Windows and holidays are checked by the service, which says which one is wrong in one flat list.
@extend_schema_field(ScheduleWindowSerializer(many=True))
class WindowsField(serializers.JSONField):
    pass


@extend_schema_field(serializers.ListField(child=serializers.DateField()))
class HolidaysField(serializers.JSONField):
    pass


@extend_schema_serializer(component_name="ScheduleWrite")
class ScheduleWriteSerializer(serializers.Serializer):
    """Parsed loosely on purpose: the service checks windows and holidays and says which one is
    wrong, for the API and the dashboard alike."""

    name = serializers.CharField(max_length=SCHEDULE_NAME_MAX_LENGTH)
    windows = WindowsField(
        required=False,
        help_text=_('[{days: [0–6], start: "HH:MM", end: "HH:MM"}], Vietnam\'s time; end exclusive.'),
    )
    holidays = HolidaysField(required=False, help_text=_("Closed all day: YYYY-MM-DD."))
