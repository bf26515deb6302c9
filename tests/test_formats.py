"""One date and number format per language (pbx_admin/formats): dd/mm/yyyy HH:MM in Vietnamese,
d MMM yyyy HH:MM in English, in Vietnam's time; thousands grouped as each language writes them;
the API stays ISO 8601."""

from datetime import UTC, datetime

import pytest
from django.core.paginator import Paginator
from django.template import Context, Template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from audit.models import AuditEvent
from extensions.models import Extension

pytestmark = pytest.mark.django_db

# 06:27 UTC is 13:27 in Asia/Ho_Chi_Minh.
MOMENT = datetime(2026, 12, 2, 6, 27, tzinfo=UTC)
SHOWN = {"vi": "02/12/2026 13:27", "en": "2 Dec 2026 13:27"}
# What the pages showed before: Django's Vietnamese formats, month-first digits, seconds.
NEVER = ["Ngày 02 tháng", "13:27 02-12-2026", "12/02/2026", "Dec. 2, 2026", "02/12/2026 13:27:00"]


def _page(client, user, url, language) -> str:
    client.force_login(user)
    if language == "en":
        client.post(reverse("set_language"), {"language": "en", "next": "/"})
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Language"] == language
    return response.content.decode()


@pytest.mark.parametrize("language", ["vi", "en"])
def test_extension_and_audit_pages_show_one_format(client, world, language):
    ext = world.ext_a["101"]
    Extension.objects.filter(pk=ext.pk).update(updated_at=MOMENT)
    AuditEvent.objects.filter(tenant=world.tenant_a).update(created_at=MOMENT)
    for url in (
        reverse("extensions:extension_detail", args=[ext.pk]),
        reverse("audit:auditevent_list"),
    ):
        html = _page(client, world.admin_a, url, language)
        assert SHOWN[language] in html, url
        for old in NEVER:
            assert old not in html, (url, old)


@pytest.mark.parametrize(("language", "expected"), [("vi", "20.000"), ("en", "20,000")])
def test_thousands_are_grouped_as_the_language_writes_them(client, world, language, expected):
    html = _page(
        client, world.admin_a, reverse("extensions:extension_import", args=[world.hotline_a.pk]), language
    )
    assert f"{expected} " in html  # "at most 10 MB and 20.000 rows"
    with translation.override(language):
        assert Template("{{ n }}").render(Context({"n": 20000})) == expected


def test_page_numbers_in_links_are_not_grouped():
    page = Paginator(range(4000), 2).page(1000)
    with translation.override("vi"):
        html = render_to_string("partials/pagination.html", {"page": page, "query": ""})
    assert "page=1001" in html and "page=999" in html


def test_the_audit_date_filter_keeps_the_iso_value_its_date_input_needs(client, world):
    html = _page(client, world.admin_a, reverse("audit:auditevent_list") + "?since=2026-12-01", "vi")
    assert 'value="2026-12-01"' in html


def test_the_api_stays_iso(client, world):
    from tests.api import api_client

    ext = world.ext_a["101"]
    Extension.objects.filter(pk=ext.pk).update(updated_at=MOMENT)
    data = api_client(world.admin_a).get(f"/api/v1/extensions/{ext.pk}/").json()
    assert data["updated_at"].startswith("2026-12-02T13:27:00")
    assert data["updated_at"].endswith("+07:00")
