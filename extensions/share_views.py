"""Share links: admins create and revoke them; anyone with the link opens it once."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from core.guard import RevealRefused
from core.mixins import TenantAdminRequiredMixin
from core.net import client_ip

from . import sharing
from .selectors import extension_get


class ShareLinkCreateView(TenantAdminRequiredMixin, View):
    http_method_names = ["post"]

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
                "url": request.build_absolute_uri(f"/share/{token}/"),
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
    """Public: GET shows a button (chat apps that preview links must not use it up); POST uses
    the link and shows the login info with a QR code."""

    template_name = "extensions/share_open.html"

    def unavailable(self, request, exc):
        return render(request, self.template_name, {"error": exc.message}, status=410)

    def get(self, request, token):
        try:
            link = sharing.share_link_peek(token=token)
        except sharing.ShareLinkUnavailable as exc:
            return self.unavailable(request, exc)
        return render(request, self.template_name, {"link": link})

    def post(self, request, token):
        try:
            info = sharing.share_link_open(token=token, ip=client_ip(request))
        except sharing.ShareLinkUnavailable as exc:
            return self.unavailable(request, exc)
        response = render(
            request,
            self.template_name,
            {
                "credentials": info,
                "credentials_text": info.as_text(),
                "qr_svg": sharing.qr_svg(info),
                "visible_seconds": settings.REVEAL_VISIBLE_SECONDS * 5,
            },
        )
        response["Cache-Control"] = "no-store"
        return response
