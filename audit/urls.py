from django.urls import path

from . import views

app_name = "audit"
urlpatterns = [
    path("audit/", views.AuditEventListView.as_view(), name="auditevent_list"),
    path("audit/sip-security/", views.SipSecurityView.as_view(), name="sip_security"),
    path("audit/sip-security/unblock/", views.SipUnblockView.as_view(), name="sip_unblock"),
]
