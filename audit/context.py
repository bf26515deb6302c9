"""The request being served, for audit records: who (read when recording, so a user that DRF
authenticated by token counts too), source IP and user agent."""

from contextvars import ContextVar

from django.http import HttpRequest

current_request: ContextVar[HttpRequest | None] = ContextVar("audit_current_request", default=None)


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR is the proxy in production; nginx sets X-Real-IP (docs/deployment.md) and only
    # the proxy can reach the app servers, so that header is the client's address.
    return request.META.get("HTTP_X_REAL_IP") or request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)
