"""The load bench's URLs: the project's, and Django admin doing the dashboard's job at
/bench-admin/ (the reference of bench/load_bench.py).

The project's own Extension admin only looks (writes go through the services); this one is a
plain ModelAdmin with write access, on its own AdminSite so nothing of it reaches the project.
Configured as sensibly as one would for this many rows, so that the comparison is with a good
admin, not a naive one: the supervisor is a raw id field (a <select> of 10,000 extensions would
cost what the dashboard's edit page costs today), 50 rows a page as the dashboard shows, and no
second COUNT of the whole table for "N of M".
"""

from django.contrib import admin
from django.urls import include, path

from extensions.models import Extension


class BenchExtensionAdmin(admin.ModelAdmin):
    list_display = ["number", "alias", "hotline", "call_permission", "supervisor", "enabled"]
    list_filter = ["hotline", "call_permission", "enabled"]
    search_fields = ["number", "alias"]
    list_select_related = ["hotline", "supervisor"]
    list_per_page = 50
    show_full_result_count = False
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
