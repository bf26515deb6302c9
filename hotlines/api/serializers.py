"""Shapes of the hotlines and number-groups API; the rules live in hotlines.services."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from core.api.fields import TenantScopedPrimaryKeyRelatedField

from ..choices import Carrier, GroupStrategy
from ..models import Hotline, NumberGroup
from ..selectors import hotline_choices


class HotlineSerializer(serializers.ModelSerializer):
    """A hotline (đầu số); the platform operator manages them, so the API only reads."""

    # Declared so the schema allows "" (no carrier known), which read-only model fields lose.
    carrier = serializers.ChoiceField(choices=Carrier.choices, allow_blank=True, read_only=True)
    extension_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Hotline
        fields = ["id", "number", "name", "kind", "carrier", "sip_domain", "extension_count"]
        read_only_fields = fields


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
