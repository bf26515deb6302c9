"""Share links: admins create and revoke them; anyone with the link opens it once.

A link is /share/#<token>. Browsers never send what follows "#" to a server, so the token is in
no request line: not in access logs (nginx, gunicorn), proxies, nor a Referer header. The page
at /share/ reads it with static/js/share.js and posts it in the request body.
"""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from core.guard import RevealRefused
from core.mixins import TenantAdminRequiredMixin
from core.net import client_ip

from . import provisioning, sharing
from .provisioning_views import setup_context
from .selectors import extension_get


class ShareLinkCreateView(TenantAdminRequiredMixin, View):
    http_method_names = ["post"]

    @method_decorator(sensitive_variables())
    def post(self, request, pk):
        extension = extension_get(user=request.user, pk=pk)
        try:
            link, token = sharing.share_link_create(
                extension=extension, user=request.user, session=request.session
            )
        except RevealRefused as exc:
            messages.error(request, exc.message)
            return redirect("extensions:extension_detail", pk=extension.pk)
        response = render(
            request,
            "extensions/share_created.html",
            {
                "extension": extension,
                "hotline": extension.hotline,
                "link": link,
                # The token after "#": see the module docstring.
                "url": f"{request.build_absolute_uri(reverse('extensions:sharelink_open'))}#{token}",
            },
        )
        response["Cache-Control"] = "no-store"
        return response


class ShareLinkRevokeView(TenantAdminRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk, link_pk):
        extension = extension_get(user=request.user, pk=pk)
        link = get_object_or_404(extension.share_links, pk=link_pk)
        sharing.share_link_revoke(link=link, user=request.user)
        messages.success(request, _("The share link was revoked."))
        return redirect("extensions:extension_detail", pk=extension.pk)


class ShareLinkOpenView(View):
    """Public. GET: the page, which holds nothing; its script posts the token from the URL's
    fragment. POST `step=peek` says which extension the link is for and offers a button (a
    chat app that previews links runs no script and uses nothing); POST `step=open` uses the
    link and shows the login info with a phone-setup QR code (extensions.provisioning)."""

    template_name = "extensions/share_open.html"

    def get(self, request):
        return render(request, self.template_name, {"waiting": True})

    @method_decorator(sensitive_post_parameters("token"))
    @method_decorator(sensitive_variables())
    def post(self, request):
        token = request.POST.get("token", "")
        try:
            if request.POST.get("step") == "open":
                link, info = sharing.share_link_open(token=token, ip=client_ip(request))
                context = {
                    "credentials": info,
                    "credentials_text": info.as_text(),
                    "visible_seconds": settings.REVEAL_VISIBLE_SECONDS * 5,
                    **self.phone_setup(request, link),
                }
            else:
                context = {"link": sharing.share_link_peek(token=token), "token": token}
        except sharing.ShareLinkUnavailable as exc:
            response = render(request, self.template_name, {"error": exc.message}, status=410)
        else:
            response = render(request, self.template_name, context)
        response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def phone_setup(request, link) -> dict:
        """A phone-setup QR code for the same extension (Linphone; no password in it), made for
        whoever opened the share link; none for a disabled extension."""
        try:
            issued = provisioning.provisioning_link_create(extension=link.extension, share_link=link)
        except provisioning.ProvisioningUnavailable:
            return {}
        return setup_context(request, link.extension, issued)


class ShareLinkLegacyView(View):
    """The links made before the token moved behind "#": /share/<token>/. Such a request has
    just written the token to the access logs, so it opens nothing and cancels the link (a
    reader of the logs could use it otherwise); the page says to ask for a new link."""

    template_name = "extensions/share_open.html"

    def get(self, request, token):
        sharing.share_link_retire(token=token)
        message = _(
            "Share links now have the form …/share/#…; this older link no longer works and has "
            "been cancelled. Ask your administrator for a new one."
        )
        response = render(request, self.template_name, {"error": message}, status=410)
        response["Cache-Control"] = "no-store"
        return response

    post = get
