from django.contrib import admin
from django.db import transaction

from sip.services import sip_domains_reload

from .models import Hotline, NumberGroup, NumberGroupMember


@admin.register(Hotline)
class HotlineAdmin(admin.ModelAdmin):
    """Platform operators assign hotlines to tenants; the number is validated and normalised
    in Hotline.clean(), which also derives the kind and the SIP domain."""

    list_display = ["number", "name", "tenant", "kind", "carrier", "sip_domain", "enabled"]
    list_filter = ["kind", "carrier", "enabled", "tenant"]
    search_fields = ["number", "name", "sip_domain"]
    readonly_fields = ["kind", "sip_domain", "created_at"]
    list_select_related = ["tenant"]

    # Kamailio caches the hotline domains; refresh them once the change is committed.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(sip_domains_reload)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(sip_domains_reload)


class NumberGroupMemberInline(admin.TabularInline):
    model = NumberGroupMember
    extra = 0
    autocomplete_fields = ["hotline"]


@admin.register(NumberGroup)
class NumberGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "strategy"]
    list_filter = ["strategy", "tenant"]
    search_fields = ["name"]
    inlines = [NumberGroupMemberInline]
