from django.urls import path

from . import call_views as views

app_name = "calls"
urlpatterns = [
    path("hotlines/<int:hotline_pk>/calls/", views.HotlineCallsView.as_view(), name="hotline_calls"),
    path(
        "hotlines/<int:hotline_pk>/calls/export/",
        views.HotlineCallsExportView.as_view(),
        name="hotline_calls_export",
    ),
    path("hotlines/<int:hotline_pk>/status/", views.HotlineStatusView.as_view(), name="hotline_status"),
    path("hotlines/<int:hotline_pk>/wallboard/", views.WallboardView.as_view(), name="wallboard"),
    path("exports/", views.CallExportListView.as_view(), name="export_list"),
    path("exports/<int:pk>/download/", views.CallExportDownloadView.as_view(), name="export_download"),
    path("extensions/<int:pk>/calls/", views.ExtensionCallsView.as_view(), name="extension_calls"),
    path(
        "extensions/<int:pk>/calls/export/",
        views.ExtensionCallsExportView.as_view(),
        name="extension_calls_export",
    ),
]
