from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from core.guard import mark_authenticated


class ConfirmPasswordForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


class ConfirmPasswordView(LoginRequiredMixin, View):
    """Re-enter your password before seeing secrets when the last sign-in is old."""

    template_name = "registration/confirm_password.html"

    def next_url(self, request) -> str:
        url = request.POST.get("next") or request.GET.get("next") or "/"
        if not url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            url = "/"
        return url

    def get(self, request):
        return render(
            request, self.template_name, {"form": ConfirmPasswordForm(), "next": self.next_url(request)}
        )

    @method_decorator(sensitive_post_parameters("password"))
    @method_decorator(sensitive_variables())
    def post(self, request):
        form = ConfirmPasswordForm(request.POST)
        if form.is_valid():
            user = authenticate(
                request, username=request.user.get_username(), password=form.cleaned_data["password"]
            )
            if user is not None and user.pk == request.user.pk:
                mark_authenticated(request.session)
                messages.success(request, _("Thank you. You can now reveal login info."))
                return redirect(self.next_url(request))
            form.add_error("password", _("This is not your password."))
        return render(request, self.template_name, {"form": form, "next": self.next_url(request)}, status=400)
