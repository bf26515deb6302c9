from django.urls import path

from . import views

app_name = "sip"
urlpatterns = [
    path("phone/", views.PhoneView.as_view(), name="phone"),
    path("phone/credentials/", views.PhoneCredentialsView.as_view(), name="phone_credentials"),
]
