from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters

from core.forms import add_service_errors
from core.mixins import TenantAdminRequiredMixin
from tenants.models import Tenant

from . import services
from .forms import WebhookForm
from .selectors import delivery_list, webhook_get, webhook_list


class WebhookListView(TenantAdminRequiredMixin, View):
    """The tenant's webhooks."""

    def get(self, request):
        return render(request, "webhooks/webhook_list.html", {"webhooks": webhook_list(user=request.user)})


@method_decorator(sensitive_post_parameters("secret"), name="dispatch")
class WebhookFormView(TenantAdminRequiredMixin, View):
    """Create (no pk) or edit a webhook."""

    template_name = "webhooks/webhook_form.html"

    def build_form(self, data, endpoint):
        initial = (
            {k: getattr(endpoint, k) for k in ("url", "events", "enabled", "description")} if endpoint else {}
        )
        return WebhookForm(data, initial=initial, endpoint=endpoint)

    def get(self, request, pk=None):
        endpoint = webhook_get(user=request.user, pk=pk) if pk else None
        return render(
            request, self.template_name, {"form": self.build_form(None, endpoint), "webhook": endpoint}
        )

    def post(self, request, pk=None):
        endpoint = webhook_get(user=request.user, pk=pk) if pk else None
        form = self.build_form(request.POST, endpoint)
        if form.is_valid():
            data = dict(form.cleaned_data)
            secret = data.pop("secret") or None
            try:
                if endpoint is None:
                    tenant = Tenant.objects.get(pk=self.tenant_id or 0)  # the mixin set it (403 otherwise)
                    endpoint = services.webhook_create(tenant=tenant, secret=secret or "", **data)
                else:
                    services.webhook_update(endpoint=endpoint, data=data, secret=secret)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("The webhook was saved."))
                return redirect("webhooks:webhook_detail", pk=endpoint.pk)
        return render(request, self.template_name, {"form": form, "webhook": endpoint}, status=400)


class WebhookDetailView(TenantAdminRequiredMixin, View):
    """A webhook and its delivery log (status, attempts, last answer or error)."""

    def get(self, request, pk):
        endpoint = webhook_get(user=request.user, pk=pk)
        page = Paginator(delivery_list(endpoint=endpoint), 50).get_page(request.GET.get("page"))
        return render(request, "webhooks/webhook_detail.html", {"webhook": endpoint, "page": page})


class WebhookTestView(TenantAdminRequiredMixin, View):
    """The "Send test" button: queues a `webhook.test` event for this endpoint."""

    def post(self, request, pk):
        endpoint = webhook_get(user=request.user, pk=pk)
        services.webhook_send_test(endpoint=endpoint)
        messages.success(request, _("A test event was queued; its delivery appears below."))
        return redirect("webhooks:webhook_detail", pk=endpoint.pk)


class WebhookDeleteView(TenantAdminRequiredMixin, View):
    template_name = "webhooks/webhook_confirm_delete.html"

    def get(self, request, pk):
        return render(request, self.template_name, {"webhook": webhook_get(user=request.user, pk=pk)})

    def post(self, request, pk):
        services.webhook_delete(endpoint=webhook_get(user=request.user, pk=pk))
        messages.success(request, _("The webhook was deleted."))
        return redirect("webhooks:webhook_list")
