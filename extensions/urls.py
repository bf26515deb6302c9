from django.urls import path

from dialplan.views import ExtensionDialCheckView

from . import bulk_views, provisioning_views, share_views, views

app_name = "extensions"
urlpatterns = [
    path("hotlines/<int:hotline_pk>/extensions/", views.ExtensionListView.as_view(), name="extension_list"),
    path(
        "hotlines/<int:hotline_pk>/extensions/add/", views.ExtensionCreateView.as_view(), name="extension_add"
    ),
    path(
        "hotlines/<int:hotline_pk>/extensions/add-range/",
        bulk_views.ExtensionRangeCreateView.as_view(),
        name="extension_add_range",
    ),
    path(
        "hotlines/<int:hotline_pk>/extensions/bulk-edit/",
        bulk_views.ExtensionBulkEditView.as_view(),
        name="extension_bulk_edit",
    ),
    path(
        "hotlines/<int:hotline_pk>/extensions/bulk-regenerate/",
        bulk_views.ExtensionBulkRegenerateView.as_view(),
        name="extension_bulk_regenerate",
    ),
    path(
        "hotlines/<int:hotline_pk>/extensions/export/",
        bulk_views.ExtensionExportView.as_view(),
        name="extension_export",
    ),
    path(
        "hotlines/<int:hotline_pk>/extensions/import/",
        bulk_views.ExtensionImportView.as_view(),
        name="extension_import",
    ),
    path("extensions/imports/<int:pk>/", bulk_views.ImportJobView.as_view(), name="import_job"),
    path(
        "extensions/imports/<int:pk>/apply/", bulk_views.ImportJobApplyView.as_view(), name="import_job_apply"
    ),
    path("extensions/imports/progress/", bulk_views.ImportProgressView.as_view(), name="import_progress"),
    path("extensions/mine/", views.MyExtensionView.as_view(), name="my_extension"),
    path("extensions/<int:pk>/", views.ExtensionDetailView.as_view(), name="extension_detail"),
    path("extensions/<int:pk>/dial-check/", ExtensionDialCheckView.as_view(), name="extension_dial_check"),
    path(
        "extensions/<int:pk>/lift-limits/",
        views.ExtensionLiftLimitsView.as_view(),
        name="extension_lift_limits",
    ),
    path("extensions/<int:pk>/reveal/", views.ExtensionRevealView.as_view(), name="extension_reveal"),
    path("extensions/<int:pk>/edit/", views.ExtensionUpdateView.as_view(), name="extension_edit"),
    path("extensions/<int:pk>/delete/", views.ExtensionDeleteView.as_view(), name="extension_delete"),
    path("extensions/<int:pk>/share/", share_views.ShareLinkCreateView.as_view(), name="sharelink_add"),
    path(
        "extensions/<int:pk>/share/<int:link_pk>/revoke/",
        share_views.ShareLinkRevokeView.as_view(),
        name="sharelink_revoke",
    ),
    path(
        "extensions/<int:pk>/provisioning-link/",
        provisioning_views.ProvisioningLinkCreateView.as_view(),
        name="provisioning_link_add",
    ),
    path(
        "hotlines/<int:hotline_pk>/extensions/onboarding/",
        bulk_views.ExtensionOnboardingView.as_view(),
        name="extension_onboarding",
    ),
    path(
        "provision/<str:token>/",
        provisioning_views.ProvisioningConfigView.as_view(),
        name="provisioning_config",
    ),
    path("share/", share_views.ShareLinkOpenView.as_view(), name="sharelink_open"),
    path("share/<str:token>/", share_views.ShareLinkLegacyView.as_view(), name="sharelink_legacy"),
]
