"""Shapes of the extensions API. Input serializers only parse; the rules live in the services
(extension_create / extension_update), so the API and the dashboard refuse the same things."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from core.api.fields import TenantScopedPrimaryKeyRelatedField
from hotlines.models import Hotline, NumberGroup, Schedule
from hotlines.selectors import hotline_choices, number_group_choices, schedule_choices
from sip.selectors import Registration, contacts_for, registrations
from sip.sipclient import TRANSPORTS

from ..choices import CallPermission
from ..models import Extension
from ..selectors import API_LIST_FIELDS, CALLER_ID_IDS, extension_choices, split_ids
from ..services.rules import CONTROL_FIELDS


def _iso_datetime(value, tz) -> str:
    """What serializers.DateTimeField makes of an aware datetime: ISO 8601 in the current time
    zone, "Z" for UTC (without its per-call settings and time-zone lookups)."""
    text = value.astimezone(tz).isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


# A list row's columns (extension_api_list) and the attributes of an extension holding them.
INSTANCE_ATTRIBUTES = [
    (name, Extension._meta.get_field(name).attname) for name in API_LIST_FIELDS if name not in CALLER_ID_IDS
]


class CallPermissionField(serializers.ChoiceField):
    """Call permission (quyền gọi) as a slug: internal < landline < mobile < international."""

    def __init__(self, **kwargs):
        super().__init__(choices=[(p.slug, p.label) for p in CallPermission], **kwargs)

    def to_representation(self, value: int) -> str:
        return CallPermission(value).slug

    def to_internal_value(self, data) -> int:
        return int(CallPermission.from_slug(super().to_internal_value(data)))


class RegistrationSerializer(serializers.Serializer):
    """One registered device of an extension (a live `location` row)."""

    transport = serializers.ChoiceField(choices=TRANSPORTS)
    user_agent = serializers.CharField(help_text=_("The softphone's User-Agent, e.g. JsSIP 3.10.1."))
    # The serializer's metaclass takes declared fields off the class, so this does not shadow
    # Field.source at run time; mypy sees only the class body.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text=_("Where it registered from: ip:port (behind a NAT, the public one).")
    )
    expires_at = serializers.DateTimeField(help_text=_("When the registration lapses unless renewed."))


def _contacts(registrations: list[Registration], tz) -> list[dict]:
    return [
        {
            "transport": registration.transport,
            "user_agent": registration.user_agent,
            "source": registration.source,
            "expires_at": _iso_datetime(registration.expires, tz),
        }
        for registration in registrations
    ]


def _registrations_of(extension: Extension) -> list[Registration]:
    """An extension's live registrations: carried by its query when it came through
    sip.selectors.with_contacts (every list and response of the API), else one query."""
    if hasattr(extension, "contacts_json"):
        return registrations(extension.contacts_json)
    return contacts_for(extension)


class ExtensionSerializer(serializers.ModelSerializer):
    """An extension (máy lẻ) as the API shows it; never its password. `online` and `contacts`
    are its registration status, read from the SIP server's `location` table."""

    call_permission = CallPermissionField(read_only=True)
    outbound_hotlines = serializers.SerializerMethodField(
        help_text=_("Ids of the hotlines it may show as caller ID, ascending.")
    )
    outbound_groups = serializers.SerializerMethodField(
        help_text=_("Ids of its caller-ID number groups, ascending.")
    )

    # The declared fields' reading of one extension (its relations prefetched); a list page's
    # dicts are read by to_representation.
    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_outbound_hotlines(self, extension: Extension) -> list[int]:
        return sorted(h.pk for h in extension.outbound_hotlines.all())

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_outbound_groups(self, extension: Extension) -> list[int]:
        return sorted(g.pk for g in extension.outbound_groups.all())

    online = serializers.SerializerMethodField(
        help_text=_("Registered right now: at least one contact below.")
    )
    contacts = serializers.SerializerMethodField(
        help_text=_("Its registered devices (live registrations), newest first; empty when offline.")
    )

    @extend_schema_field(serializers.BooleanField())
    def get_online(self, extension: Extension) -> bool:
        return bool(_registrations_of(extension))

    @extend_schema_field(RegistrationSerializer(many=True))
    def get_contacts(self, extension: Extension) -> list[dict]:
        return _contacts(_registrations_of(extension), timezone.get_current_timezone())

    class Meta:
        model = Extension
        fields = [
            "id",
            "hotline",
            "number",
            "alias",
            "call_permission",
            "supervisor",
            "outbound_hotlines",
            "outbound_groups",
            "description",
            "enabled",
            *CONTROL_FIELDS,
            "created_at",
            "updated_at",
            "online",
            "contacts",
        ]
        read_only_fields = fields

    def to_representation(self, extension: Extension | dict) -> dict:
        """The fields above, built directly: a list page has 50 of these, and DRF's walk over
        its bound fields costs several times more than the values themselves. Takes one
        extension or a list page's dict (extension_api_list). Same values and formats as the
        declared fields (`test_fast_representation_is_the_declared_one`)."""
        # One list serializer's child renders every item of the page: look the zone up once.
        tz = self.__dict__.get("_timezone") or self.__dict__.setdefault(
            "_timezone", timezone.get_current_timezone()
        )
        if isinstance(extension, dict):
            row = extension
            outbound_hotlines = split_ids(row["outbound_hotline_ids"])
            outbound_groups = split_ids(row["outbound_group_ids"])
            # A list page's dicts carry their registrations (sip.selectors.with_contacts).
            contacts = registrations(row["contacts_json"])
        else:
            row = {name: getattr(extension, attname) for name, attname in INSTANCE_ATTRIBUTES}
            outbound_hotlines = self.get_outbound_hotlines(extension)
            outbound_groups = self.get_outbound_groups(extension)
            contacts = _registrations_of(extension)
        return {
            "id": row["id"],
            "hotline": row["hotline"],
            "number": row["number"],
            "alias": row["alias"],
            "call_permission": CallPermission(row["call_permission"]).slug,
            "supervisor": row["supervisor"],
            "outbound_hotlines": outbound_hotlines,
            "outbound_groups": outbound_groups,
            "description": row["description"],
            "enabled": row["enabled"],
            **{name: row[name] for name in CONTROL_FIELDS},
            "created_at": _iso_datetime(row["created_at"], tz),
            "updated_at": _iso_datetime(row["updated_at"], tz),
            "online": bool(contacts),
            "contacts": _contacts(contacts, tz),
        }


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class NetworkListField(serializers.JSONField):
    """A list of CIDR networks, checked by the model (its messages stay one flat list)."""


class ExtensionUpdateSerializer(serializers.Serializer):
    """What an admin may change on an extension (its hotline and number are fixed)."""

    # Limits are the model's (the services check them), so every entry point gives one answer.
    alias = serializers.CharField(help_text=_("ASCII, at most 32 characters, e.g. sale01."))
    call_permission = CallPermissionField(required=False)
    supervisor = TenantScopedPrimaryKeyRelatedField(
        scope=extension_choices,
        queryset=Extension.objects.none(),
        required=False,
        allow_null=True,
        help_text=_("An extension of the same hotline, or null."),
    )
    outbound_hotlines = TenantScopedPrimaryKeyRelatedField(
        scope=hotline_choices,
        queryset=Hotline.objects.none(),
        many=True,
        required=False,
        help_text=_("Hotlines this extension may show as caller ID; none: its own hotline."),
    )
    outbound_groups = TenantScopedPrimaryKeyRelatedField(
        scope=number_group_choices,
        queryset=NumberGroup.objects.none(),
        many=True,
        required=False,
        help_text=_("Number groups whose hotlines it may show as caller ID."),
    )
    # No max_length here: the model owns the limit, so the API answers as every other entry point.
    description = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    enabled = serializers.BooleanField(required=False)
    # Controls at the SIP server; ranges and formats are the model's (checked by the services).
    outbound_schedule = TenantScopedPrimaryKeyRelatedField(
        scope=schedule_choices,
        queryset=Schedule.objects.none(),
        required=False,
        allow_null=True,
        help_text=_("One of the tenant's outbound schedules (id); null: its hotline's (none there: always)."),
    )
    # Parsed by the model's validator (one flat list of messages, whatever the items are).
    allowed_networks = NetworkListField(
        required=False,
        help_text=_("CIDR networks it may register from (checked at every REGISTER); empty: anywhere."),
    )
    max_contacts = serializers.IntegerField(
        required=False, allow_null=True, help_text=_("Devices registered at once; one more is refused.")
    )
    max_calls_per_minute = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text=_("Calls out through the carrier in any 60 s; null: no limit."),
    )
    max_calls_per_day = serializers.IntegerField(
        required=False, allow_null=True, help_text=_("Calls out through the carrier per day; null: no limit.")
    )
    max_call_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text=_("Answered calls out are ended after this; null: no limit."),
    )
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=128,
        style={"input_type": "password"},
        help_text=_(
            "Optional. Absent or empty: keep it (on create: generate a strong one). "
            "Otherwise ≥ 10 characters with upper case, lower case and a digit, not "
            "containing the number or alias."
        ),
    )


@extend_schema_serializer(component_name="ExtensionCreate")
class ExtensionCreateSerializer(ExtensionUpdateSerializer):
    """A new extension: the update fields plus its hotline and number, chosen once."""

    hotline = TenantScopedPrimaryKeyRelatedField(scope=hotline_choices, queryset=Hotline.objects.none())
    number = serializers.CharField(help_text=_("2 to 6 digits, e.g. 101."))


class LoginInfoSerializer(serializers.Serializer):
    """The login info (thông tin đăng nhập) a softphone needs, password included."""

    username = serializers.CharField()
    password = serializers.CharField()
    domain = serializers.CharField()
    sip_uri = serializers.CharField()
    display_name = serializers.CharField()
    proxy = serializers.CharField(help_text=_("Outbound proxy, host:port."))
    transports = serializers.ListField(child=serializers.CharField())
    websocket_url = serializers.CharField()


class ProvisioningLinkSerializer(serializers.Serializer):
    """A one-time phone-setup link (Linphone remote provisioning); no password in it."""

    id = serializers.IntegerField()
    url = serializers.URLField(help_text=_("Linphone fetches its configuration here, once."))
    expires_at = serializers.DateTimeField()
    qr_svg = serializers.CharField(help_text=_("The QR code (inline SVG) holding linphone-config:<url>."))


class CountersExtensionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    alias = serializers.CharField()


class CallCountersSerializer(serializers.Serializer):
    """An extension's counters for the call limits, as the SIP server holds them now."""

    extension = CountersExtensionSerializer()
    readable = serializers.BooleanField(
        help_text=_("False when the SIP server did not answer (counts are null).")
    )
    last_minute = serializers.IntegerField(
        allow_null=True, help_text=_("Calls out through the carrier in the last 60 s.")
    )
    today = serializers.IntegerField(
        allow_null=True, help_text=_("Calls out through the carrier today (Vietnam's time).")
    )
