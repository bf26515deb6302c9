from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from core.api.views import ApiDocsView
from core.auth_views import ConfirmPasswordView
from core.views import HomeView, healthz

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
    path("api/v1/", include("pbx_admin.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api_schema"), name="api_docs"),
]

# A database that does not answer is a 503 with Retry-After (JSON under /api/), anything else
# Django's 500 (core.views.server_error).
handler500 = "core.views.server_error"
