"""Phone setup by QR code: make a link (extension page), and the link itself, which Linphone
fetches once (extensions.provisioning). A person, a HEAD request or a link previewer opening
the link gets a page that uses nothing."""

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.debug import sensitive_variables

from core.guard import RevealRefused
from core.mixins import TenantMemberRequiredMixin
from core.net import client_ip
from core.views import guard_refused_redirect

from . import provisioning
from .credentials import login_info
from .models import Extension
from .selectors import extension_get


def provisioning_url(request, token: str) -> str:
    return request.build_absolute_uri(reverse("extensions:provisioning_config", kwargs={"token": token}))


def setup_context(request, extension: Extension, issued: provisioning.IssuedLink) -> dict:
    """What a page needs to show one link: its QR code, address and expiry, and the account's
    fields for other apps (no password: it is never on these pages)."""
    url = provisioning_url(request, issued.token)
    return {
        "provisioning_url": url,
        "provisioning_qr_svg": provisioning.qr_svg(url),
        "provisioning_expires_at": issued.link.expires_at,
        "setup_fields": login_info(extension, ""),
        "setup_transport": provisioning.proxy_transport(),
    }


def _no_store(response):
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


class ProvisioningLinkCreateView(TenantMemberRequiredMixin, View):
    """POST: a new phone-setup link for this extension (an agent: their own), through the
    guard like a reveal; the page shows its QR code once."""

    http_method_names = ["post"]

    def post(self, request, pk):
        extension = extension_get(user=request.user, pk=pk)
        back = reverse("extensions:extension_detail", kwargs={"pk": extension.pk})
        try:
            issued = provisioning.provisioning_link_create(
                extension=extension, user=request.user, session=request.session
            )
        except RevealRefused as exc:
            return guard_refused_redirect(request, exc, back=back)
        except provisioning.ProvisioningUnavailable as exc:
            return render(
                request,
                "extensions/provisioning_created.html",
                {"extension": extension, "hotline": extension.hotline, "error": exc.message},
                status=exc.status,
            )
        context = {"extension": extension, "hotline": extension.hotline}
        context.update(setup_context(request, extension, issued))
        return _no_store(render(request, "extensions/provisioning_created.html", context))


class ProvisioningConfigView(View):
    """Public: `/provision/<token>/`. Linphone's GET (its User-Agent, or a request for XML)
    gets the configuration once; a later one 410, an unknown link 404. Anything else — a
    person's browser, HEAD, a link previewer — gets a page that says how to use the link and
    does not use it."""

    template_name = "extensions/provisioning_open.html"
    http_method_names = ["get", "head"]

    def head(self, request, token):
        return self._page(request)

    @method_decorator(sensitive_variables())
    def get(self, request, token):
        user_agent = request.headers.get("User-Agent", "")
        if provisioning.is_link_preview_bot(user_agent):
            return self._page(request)
        if provisioning.is_softphone(user_agent=user_agent, accept=request.headers.get("Accept", "")):
            try:
                config = provisioning.provisioning_link_redeem(token=token, ip=client_ip(request))
            except provisioning.ProvisioningUnavailable as exc:
                return _no_store(
                    HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
                )
            return _no_store(HttpResponse(config, content_type="application/xml; charset=utf-8"))
        try:
            provisioning.provisioning_link_check(token=token)
        except provisioning.ProvisioningUnavailable as exc:
            return self._page(request, error=exc.message, status=exc.status)
        return self._page(request)

    def _page(self, request, *, error: str = "", status: int = 200):
        return _no_store(render(request, self.template_name, {"error": error}, status=status))
