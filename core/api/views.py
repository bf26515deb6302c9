"""Small helpers for the apps' viewsets."""

from rest_framework.exceptions import NotFound


def parse_pk(value: str) -> int:
    """The object id from the URL; anything but plain digits is a 404, as an unknown id is."""
    if not (value.isascii() and value.isdecimal()):
        raise NotFound
    return int(value)

