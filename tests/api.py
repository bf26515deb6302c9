"""Helpers for API tests: a DRF client signed in the way real programs are, with a token."""

from django.conf import settings
from rest_framework.test import APIClient

from tenants.services import api_token_create


def api_client(user=None) -> APIClient:
    """A JSON client with `Authorization: Token …` for `user` (anonymous when None), reading
    messages in English (the language cookie, as the dashboard's language switch sets it)."""
    client = APIClient()
    client.default_format = "json"  # the API parses JSON only
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, replace=True).key}")
    return client


def errors(response, field: str) -> str:
    """The messages of one field of a 400 answer, joined, for `in` checks."""
    assert response.status_code == 400, (response.status_code, response.content)
    return " ".join(response.json()[field])
