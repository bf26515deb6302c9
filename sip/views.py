"""The web phone ("Điện thoại"): the page, and the short-lived credentials it signs in with."""

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, JsonResponse
from django.http.request import split_domain_port
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables

from core.guard import RevealRefused

from .turn import ice_transport_policy
from .webphone import web_phone_credentials_issue, web_phone_extension

# Hosts where a browser grants the microphone over plain HTTP (a "secure context").
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def _messages() -> dict[str, str]:
    """What the page's script may say, in the page's language."""
    return {
        "connecting": _("Connecting…"),
        "registered": _("Ready: registered on extension %(number)s."),
        "unregistered": _("Not registered."),
        "reconnecting": _("Connection to the SIP server lost. Reconnecting…"),
        "offline": _("This computer is offline. The phone reconnects when the network is back."),
        "credentialsFailed": _("The phone could not sign in. Retrying…"),
        "signedOut": _("Your dashboard session has ended. Sign in again to use the phone."),
        "registrationFailed": _("The SIP server refused the sign-in (%(cause)s). Retrying…"),
        "insecure": _(
            "The microphone only works on a secure page: open the dashboard over HTTPS "
            "(or at 127.0.0.1 / localhost on this computer)."
        ),
        "noWebRTC": _("This browser cannot make calls (no WebRTC). Use a recent Chrome, Edge or Firefox."),
        "micDenied": _(
            "The browser is not allowed to use the microphone. Click the lock icon next to the "
            "address, allow the microphone for this site, then try again."
        ),
        "micMissing": _("No microphone was found. Plug in a headset or microphone and try again."),
        "micBusy": _(
            "The microphone is in use by another program or cannot be opened. Close it and try again."
        ),
        "micFailed": _("The microphone could not be opened (%(cause)s)."),
        "emptyNumber": _("Enter the number to call."),
        "calling": _("Calling %(number)s…"),
        "ringing": _("Ringing at %(number)s…"),
        "incoming": _("Incoming call from %(number)s"),
        "inCall": _("In a call with %(number)s"),
        "onHold": _("On hold: %(number)s"),
        "ended": _("Call ended."),
        "failed": _("The call did not go through: %(cause)s."),
        "busy": _("Busy."),
        "unavailable": _("Not reachable: the extension is not signed in."),
        "notFound": _("No such number."),
        "rejected": _("The call was declined."),
        "noAnswer": _("No answer."),
        "forbidden": _("Not allowed: your extension's call permission does not cover this number."),
    }


@method_decorator(never_cache, name="dispatch")
class PhoneView(LoginRequiredMixin, View):
    """ "Điện thoại": a phone in the page, registered on the user's own extension."""

    def get(self, request):
        extension = web_phone_extension(user=request.user)
        if extension is None:
            raise Http404(_("No extension is linked to your account."))
        host, _port = split_domain_port(request.get_host())
        secure = request.is_secure() or host in LOOPBACK_HOSTS
        response = render(
            request,
            "sip/phone.html",
            {
                "extension": extension,
                "hotline": extension.hotline,
                "secure_context": secure,
                "phone_config": {
                    "credentialsUrl": reverse("sip:phone_credentials"),
                    "number": extension.number,
                    "iceTransportPolicy": ice_transport_policy(),
                    "messages": _messages(),
                },
            },
        )
        # The page talks to the SIP server's WebSocket; nothing else is added to the policy: TURN
        # is ICE, which connect-src does not govern (sip/tests/test_webphone_turn.py). (What
        # django-csp's @csp_update sets, here per request: the URL is a setting tests change.)
        setattr(response, "_csp_update", {"connect-src": [settings.SIP_WEBSOCKET_URL]})  # noqa: B010
        return response


@method_decorator(never_cache, name="dispatch")
class PhoneCredentialsView(LoginRequiredMixin, View):
    """POST (JSON): short-lived credentials for the web phone of the signed-in user's own
    extension. A browser session only (API tokens do not sign in here), nothing counted,
    audited. Anonymous requests are sent to sign in, as for every dashboard page."""

    http_method_names = ["post"]

    @method_decorator(sensitive_variables())
    def post(self, request):
        extension = web_phone_extension(user=request.user)
        if extension is None:
            return JsonResponse({"detail": _("No extension is linked to your account.")}, status=404)
        try:
            login = web_phone_credentials_issue(
                user=request.user, session=request.session, extension=extension
            )
        except RevealRefused as exc:
            return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status_code)
        return JsonResponse(login.as_dict())
