"""Small helpers for the apps' viewsets."""

from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.exceptions import NotFound


def parse_pk(value: str) -> int:
    """The object id from the URL; anything but plain digits is a 404, as an unknown id is."""
    if not (value.isascii() and value.isdecimal()):
        raise NotFound
    return int(value)


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI from drf-spectacular-sidecar's files (no CDN), with its start-up script
    served as a file of its own: the Content Security Policy allows no inline script/style."""

    template_name = "api/swagger_ui.html"
