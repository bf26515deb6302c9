"""/api/v1/: one router for every app's viewsets."""

from rest_framework.routers import DefaultRouter

from audit.api.views import AuditEventViewSet
from extensions.api.views import ExtensionViewSet
from hotlines.api.views import HotlineViewSet, NumberGroupViewSet, ScheduleViewSet
from sip.api.views import CallExportViewSet, CallViewSet, SecurityEventViewSet, SipLockViewSet
from webhooks.api.views import WebhookViewSet


class Router(DefaultRouter):
    # No `.json` suffix routes: one URL per resource, and no `format` URL argument.
    include_format_suffixes = False


router = Router()
router.register("hotlines", HotlineViewSet, basename="hotline")
router.register("number-groups", NumberGroupViewSet, basename="numbergroup")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("extensions", ExtensionViewSet, basename="extension")
router.register("calls", CallViewSet, basename="call")
router.register("call-exports", CallExportViewSet, basename="callexport")
router.register("audit-events", AuditEventViewSet, basename="auditevent")
router.register("webhooks", WebhookViewSet, basename="webhook")
router.register("sip-locks", SipLockViewSet, basename="siplock")
router.register("security-events", SecurityEventViewSet, basename="securityevent")

app_name = "api"
urlpatterns = router.urls
