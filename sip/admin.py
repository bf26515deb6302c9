import threading

from django import forms
from django.contrib import admin
from django.db import transaction
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import gateways
from .models import Gateway, Location, SecurityEvent


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    """Registrations, for the platform operator. Read-only: Kamailio owns these rows (and keeps
    them in memory too), so removing one here would not sign a phone out; use
    sip.services.sip_registrations_remove for that."""

    list_display = ("username", "domain", "contact", "received", "socket", "user_agent", "expires")
    list_filter = ("domain",)
    search_fields = ("username", "domain", "user_agent", "received")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    """Every lock Kamailio recorded, platform-wide (address blocks, extension locks, floods).
    Read-only: Kamailio writes them."""

    list_display = ("created_at", "kind", "source_ip", "username", "domain", "count")
    list_filter = ("kind",)
    search_fields = ("source_ip", "username", "domain")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class GatewayAdminForm(forms.ModelForm):
    class Meta:
        model = Gateway
        fields = list(gateways.FIELDS)


@admin.register(Gateway)
class GatewayAdmin(admin.ModelAdmin):
    """Carrier gateways, for the platform operator: where calls out go and which addresses calls
    from carriers may come from. Every write goes through sip.gateways (validated, audited, then
    Kamailio re-reads them); the list shows each gateway's state as Kamailio's probes see it."""

    form = GatewayAdminForm
    list_display = [
        "name",
        "scope",
        "uri",
        "priority",
        "weight",
        "caller_id_format",
        "enabled",
        "sip_state",
    ]
    list_filter = ["enabled", "caller_id_format", "transport", "tenant"]
    search_fields = ["name", "host"]
    list_select_related = ["tenant"]
    readonly_fields = ["sip_state", "dispatcher_set", "created_at", "updated_at"]
    _local = threading.local()

    @admin.display(description=_("scope"), ordering="tenant__name")
    def scope(self, obj: Gateway) -> str:
        return obj.tenant.name if obj.tenant is not None else gettext("Every tenant (provider)")

    @admin.display(description=_("SIP URI"))
    def uri(self, obj: Gateway) -> str:
        return obj.uri

    @admin.display(description=_("dispatcher set"))
    def dispatcher_set(self, obj: Gateway) -> str:
        # What `kamcmd dispatcher.list` calls it: one set per scope and priority.
        return str(obj.set_id) if obj.pk else "—"

    @admin.display(description=_("state at the SIP server"))
    def sip_state(self, obj: Gateway) -> str:
        states = getattr(self._local, "states", None)
        if states is None and obj.pk:
            states = gateways.gateway_states()
        status = gateways.gateway_status(obj, states)
        return format_html('<span data-gateway-state="{}">{}</span>', status.state, status.state.label)

    def changelist_view(self, request, extra_context=None):
        # One `dispatcher.list` for the whole page, not one per row.
        self._local.states = gateways.gateway_states()
        try:
            return super().changelist_view(request, extra_context)
        finally:
            self._local.states = None

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in gateways.FIELDS if name in form.cleaned_data}
        if change:
            gateways.gateway_update(gateway=obj, **data)
        else:
            saved = gateways.gateway_create(**data)
            obj.pk, obj.created_at, obj.updated_at = saved.pk, saved.created_at, saved.updated_at
            obj._state.adding = False

    def delete_model(self, request, obj):
        gateways.gateway_delete(gateway=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for gateway in queryset:
            gateways.gateway_delete(gateway=gateway)
