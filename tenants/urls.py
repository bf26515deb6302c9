from django.urls import path

from . import views

app_name = "tenants"
urlpatterns = [
    path("account/api-token/", views.ApiTokenView.as_view(), name="api_token"),
]
