from django.contrib import admin

from .models import Location, SecurityEvent


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
