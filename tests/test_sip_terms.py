"""The login info in Vietnamese: Vietnamese terms for "Outbound proxy", "SIP URI" and "realm",
each with the English a softphone's settings show as a hint; in English, the English alone."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

TERMS = {
    "Máy chủ trung gian": "Outbound proxy",
    "Địa chỉ SIP": "SIP URI",
    "Tên miền (vùng xác thực)": "Domain / realm",
}


def _reveal(client, world, language: str) -> str:
    client.force_login(world.agent_a)
    client.cookies["django_language"] = language
    page = client.post(reverse("extensions:extension_reveal", args=[world.ext_a["101"].pk])).content.decode()
    return page[page.index('id="login-info-table"') :]


def test_vietnamese_terms_with_the_english_as_a_hint(client, world):
    table = _reveal(client, world, "vi")
    for vietnamese, english in TERMS.items():
        assert re.search(
            rf'{re.escape(vietnamese)}<span class="term-hint" lang="en">{re.escape(english)}</span>', table
        )


def test_english_terms_alone(client, world):
    table = _reveal(client, world, "en")
    assert "term-hint" not in table
    for english in TERMS.values():
        assert f'<th scope="row">{english}</th>' in table
