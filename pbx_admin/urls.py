from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from core.api.views import ApiDocsView
from core.auth_views import ConfirmPasswordView
from core.views import HomeView, healthz
from monitoring.views import metrics_view

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/confirm-password/", ConfirmPasswordView.as_view(), name="confirm_password"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("hotlines.urls")),
    path("", include("extensions.urls")),
    path("", include("tenants.urls")),
    path("", include("audit.urls")),
    path("", include("sip.urls")),
    path("", include("sip.call_urls")),
    path("", include("webhooks.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("pbx_admin.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api_schema"), name="api_docs"),
]

# Branded error pages in the user's language, with the menu and a way back (core.views); with
# DEBUG on too, unless DJANGO_DEBUG_PAGES=1 (core.middleware.BrandedErrorPagesMiddleware). A
# database that does not answer is a 503 with Retry-After (JSON under /api/).
handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.page_not_found"
handler500 = "core.views.server_error"
