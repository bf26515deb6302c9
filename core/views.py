from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views import View

from core.guard import ReauthenticationRequired, RevealRefused
from tenants.selectors import membership_for


class HomeView(LoginRequiredMixin, View):
    """Admins land on their hotlines, agents on their own extension."""

    def get(self, request):
        membership = membership_for(request.user)
        if membership is not None and not membership.is_admin:
            return redirect("extensions:my_extension")
        return redirect("hotlines:hotline_list")


def guard_refused_redirect(request, refused: RevealRefused, *, back: str) -> HttpResponseRedirect:
    """The page answer to a guard refusal: to the password prompt (then back to `back`) when
    the sign-in is too old, else back to `back` with the reason and `Retry-After`."""
    if isinstance(refused, ReauthenticationRequired):
        messages.info(request, refused.message)
        return redirect(f"{reverse('confirm_password')}?{urlencode({'next': back})}")
    messages.error(request, refused.message)
    response = redirect(back)
    if refused.retry_after:
        response["Retry-After"] = str(refused.retry_after)
    return response
