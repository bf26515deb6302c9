from django.contrib import admin

from .models import Extension


@admin.register(Extension)
class ExtensionAdmin(admin.ModelAdmin):
    """A read-only view for operators; tenant admins use the dashboard. No secret is shown."""

    list_display = ["number", "alias", "hotline", "call_permission", "supervisor", "enabled"]
    list_filter = ["call_permission", "enabled"]
    search_fields = ["number", "alias", "hotline__number"]
    list_select_related = ["hotline", "supervisor"]
    exclude = ["password_encrypted", "ha1", "ha1b"]
    readonly_fields = ["hotline", "number", "version", "created_at", "updated_at"]
    autocomplete_fields = ["supervisor", "outbound_hotlines", "outbound_groups"]

    # Writes need the password policy and caller-ID checks of extensions.services, which
    # the dashboard and the API call; here operators only look. Deleting too: a delete must
    # be audited and drop the extension's registrations, which only the service does.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
