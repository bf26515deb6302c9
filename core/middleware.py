import logging

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers

logger = logging.getLogger("django.request")


class DefaultLanguageMiddleware:
    """Pages: Vietnamese unless the user chose English on the page (the language cookie).
    API: the cookie, else the client's Accept-Language, else Vietnamese.

    Django's LocaleMiddleware would follow the browser's Accept-Language on pages too, so most
    office PCs (English Windows/Chrome) would get English; our users expect Vietnamese first.
    An API client, though, says what it wants in Accept-Language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = request_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Cookie", "Accept-Language"))
        return response


def request_language(request) -> str:
    """The language of the answer to `request`, by the rule above (also for error pages, which
    may be rendered before this middleware ran)."""
    if request.path_info.startswith("/api/"):
        return translation.get_language_from_request(request)
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    return chosen if chosen in {code for code, _ in settings.LANGUAGES} else settings.LANGUAGE_CODE


class BrandedErrorPagesMiddleware:
    """With DEBUG on (the `make run` demo), the branded error pages all the same: Django shows its
    technical 404 and 500 pages whenever DEBUG is on, and those are not what a person trying the
    demo should meet. `DJANGO_DEBUG_PAGES=1` brings Django's pages back for a developer. With
    DEBUG off it does nothing: Django calls the handlers itself (pbx_admin/urls.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def active(self) -> bool:
        return settings.DEBUG and not settings.DEBUG_PAGES

    def __call__(self, request):
        response = self.get_response(request)
        # No pattern matched (Django's technical 404 is built before any view runs, so it never
        # reaches process_exception): a view that ran set resolver_match.
        if response.status_code == 404 and getattr(request, "resolver_match", None) is None and self.active():
            from core.views import page_not_found

            return page_not_found(request)
        return response

    def process_exception(self, request, exception):
        if not self.active():
            return None
        from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
        from django.http import Http404

        from core import views

        if isinstance(exception, Http404):
            return views.page_not_found(request, exception)
        if isinstance(exception, PermissionDenied):
            return None  # Django calls handler403 whatever DEBUG is
        if isinstance(exception, (BadRequest, SuspiciousOperation)):
            return views.bad_request(request, exception)
        logger.error("Internal Server Error: %s", request.path, exc_info=exception)
        return views.server_error(request)
