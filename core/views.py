import logging
import math
import sys

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_safe

from core.guard import ReauthenticationRequired, RevealRefused
from core.middleware import request_language
from core.redis_pool import redis_ping, uses_redis
from tenants.selectors import membership_for

logger = logging.getLogger(__name__)

# What a client is told to wait when the database does not answer: PostgreSQL restarts, or fails
# over, in about that long.
DATABASE_RETRY_AFTER = 30


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


# --- when parts are down -------------------------------------------------------------------------


@require_safe
def healthz(request):
    """GET /healthz for load balancers and monitoring: 200 when the database and Redis answer,
    503 when either does not; JSON saying which, e.g. `{"database": "ok", "redis": "down"}`. A
    part that is not configured (Redis in the demo) is "not configured", which is not down.
    No session, no sign-in: one `SELECT 1` and one PING."""
    parts = {
        "database": "ok" if _database_answers() else "down",
        "redis": ("ok" if redis_ping() else "down") if uses_redis() else "not configured",
    }
    response = JsonResponse(parts, status=503 if "down" in parts.values() else 200)
    response["Cache-Control"] = "no-store"
    return response


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.warning("Health check: the database did not answer (%s).", error)
        return False
    return True


def _database_unavailable(error: BaseException | None) -> bool:
    """Whether `error` (or what caused it) is the database not answering: connection refused or
    lost, a timeout, a server shutting down. Such errors are OperationalError/InterfaceError."""
    for _depth in range(5):
        if error is None:
            return False
        if isinstance(error, (OperationalError, InterfaceError)):
            return True
        error = error.__cause__ or error.__context__
    return False


def server_error(request):
    """handler500: a 503 with Retry-After when the database did not answer (JSON under /api/,
    a page elsewhere), else the branded 500 page. Django calls it for an exception from any view
    or middleware (sessions, sign-in, the API's token check), while handling it, so the
    exception is at hand. When the database is down nothing here touches it: no session, no
    user, no context processor."""
    if not _database_unavailable(sys.exc_info()[1]):
        return error_page(request, 500)
    with translation.override(request_language(request)):
        response: HttpResponse
        if request.path_info.startswith("/api/"):
            response = JsonResponse(
                {
                    "detail": _("The service is temporarily unavailable; try again in %(seconds)d seconds.")
                    % {"seconds": DATABASE_RETRY_AFTER}
                },
                status=503,
            )
        else:
            retry = request.get_full_path() if request.method == "GET" else "/"
            response = HttpResponse(render_to_string("503.html", {"retry_url": retry}), status=503)
        response["Content-Language"] = translation.get_language()
    response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    return response


# --- branded error pages ---------------------------------------------------------------------


def _back_url(request) -> str:
    """Where "Back" leads: the page the user came from, when it is one of ours, else home."""
    referer = request.META.get("HTTP_REFERER", "")
    try:
        host = request.get_host()
    except DisallowedHost:  # the 400 for a Host header we do not serve
        return reverse("home")
    if (
        referer
        and url_has_allowed_host_and_scheme(referer, allowed_hosts={host})
        and not referer.endswith(request.get_full_path())
    ):
        return referer
    return reverse("home")


@requires_csrf_token
def error_page(request, status: int, context: dict | None = None) -> HttpResponse:
    """The page for an error `status` (templates/<status>.html): in the user's language, with the
    menu and a way back. A 500 page that cannot be drawn with the menu (the error may be in what
    draws it) falls back to one that needs nothing but the template."""
    with translation.override(request_language(request)):
        page_context = {"back_url": "/", "status": status, **(context or {})}
        try:
            page_context["back_url"] = _back_url(request)
            body = render_to_string(f"{status}.html", page_context, request=request)
        except Exception:
            if status != 500:
                raise
            logger.exception("The 500 page could not be drawn with the menu.")
            body = render_to_string("errors/plain.html", page_context)
        response = HttpResponse(body, status=status)
        response["Content-Language"] = translation.get_language()
    return response


def bad_request(request, exception=None):
    return error_page(request, 400)


def permission_denied(request, exception=None):
    return error_page(request, 403)


def page_not_found(request, exception=None):
    return error_page(request, 404)


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a sign-in while the (username, address) pair is locked: 429, how
    many minutes are left."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else None
    response = error_page(request, 429, {"retry_minutes": minutes, "locked_out": True})
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
