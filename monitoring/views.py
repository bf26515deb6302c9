import ipaddress

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from core.net import client_ip, parse_ip

from .metrics import exposition


def metrics_allowed(request) -> bool:
    """Loopback, or an address in METRICS_ALLOWED_NETWORKS; the client is whom core.net.client_ip
    says (a proxy's header counts only from DJANGO_TRUSTED_PROXIES)."""
    address = parse_ip(client_ip(request))
    if address is None:
        return False
    if address.is_loopback:
        return True
    return any(address in ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_NETWORKS)


@require_GET
def metrics_view(request):
    """GET /metrics: Prometheus text exposition."""
    if not metrics_allowed(request):
        return HttpResponseForbidden("Forbidden\n", content_type="text/plain")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
