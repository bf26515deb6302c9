from django.contrib import admin

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
