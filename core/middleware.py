from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers


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
