from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.debug import sensitive_variables

from core.guard import Access, RevealRefused, guard_access
from core.mixins import TenantAdminRequiredMixin
from core.views import guard_refused_redirect

from . import services
from .forms import ApiTokenForm
from .selectors import api_token_for


class ApiTokenView(TenantAdminRequiredMixin, View):
    """A tenant admin's own API token: create (or replace) it, or revoke it.

    The key is a secret: it is shown once, in the answer to the POST that created it, and
    never again (there is no GET that shows it).
    """

    template_name = "tenants/api_token.html"

    def get(self, request):
        return self.render(request)

    @method_decorator(sensitive_variables())  # the new key, on a DEBUG error page
    def post(self, request):
        form = ApiTokenForm(request.POST)
        if not form.is_valid():
            return self.render(request, status=400)
        if form.cleaned_data["action"] == "revoke":
            if services.api_token_revoke(user=request.user):
                messages.success(request, _("Your API token was revoked; it no longer works."))
            return redirect("tenants:api_token")
        # Minting a token yields API access to every login info: the guard's TOKEN row.
        try:
            guard_access(user=request.user, session=request.session, access=Access.TOKEN)
            token = services.api_token_create(
                user=request.user, replace=form.cleaned_data["action"] == "replace"
            )
        except RevealRefused as exc:
            return guard_refused_redirect(request, exc, back=reverse("tenants:api_token"))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return self.render(request, status=409)
        response = self.render(request, new_key=token.key)
        response["Cache-Control"] = "no-store"
        return response

    def render(self, request, *, new_key: str | None = None, status: int = 200):
        return render(
            request,
            self.template_name,
            {
                "token": api_token_for(user=request.user),
                "new_key": new_key,
            },
            status=status,
        )
