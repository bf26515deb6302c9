"""The load bench's URLs: the project's, and Django admin doing the dashboard's job at
/bench-admin/ (the reference of bench/load_bench.py).

The project's own Extension admin only looks (writes go through the services); this one is a
plain ModelAdmin with write access, on its own AdminSite so nothing of it reaches the project.
The supervisor is a raw id field: a <select> of 10,000 extensions would make the admin look
worse than a sensibly configured one.
"""

from django.contrib import admin
from django.urls import include, path

from extensions.models import Extension


class BenchExtensionAdmin(admin.ModelAdmin):
    list_display = ["number", "alias", "hotline", "call_permission", "supervisor", "enabled"]
    list_filter = ["hotline", "call_permission", "enabled"]
    search_fields = ["number", "alias"]
    list_select_related = ["hotline", "supervisor"]
    fields = [
        "hotline",
        "number",
        "alias",
        "call_permission",
        "supervisor",
        "outbound_hotlines",
        "outbound_groups",
        "description",
        "enabled",
    ]
    readonly_fields = ["hotline", "number"]
    raw_id_fields = ["supervisor"]


site = admin.AdminSite(name="bench_admin")
site.register(Extension, BenchExtensionAdmin)

urlpatterns = [
    path("bench-admin/", site.urls),
    path("", include("pbx_admin.urls")),
]
