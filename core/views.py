from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect
from django.views import View

from tenants.selectors import membership_for


class HomeView(LoginRequiredMixin, View):
    """Admins land on their hotlines, agents on their own extension."""

    def get(self, request):
        membership = membership_for(request.user)
        if membership is not None and not membership.is_admin:
            return redirect("extensions:my_extension")
        return redirect("hotlines:hotline_list")
