import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_vietnamese_is_the_default_even_for_an_english_browser(client, world):
    client.force_login(world.admin_a)
    response = client.get(reverse("hotlines:hotline_list"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response["Content-Language"] == "vi"
    assert "Quản lý đầu số" in response.content.decode()


def test_english_can_be_chosen_from_the_page(client, world):
    client.force_login(world.admin_a)
    response = client.post(reverse("set_language"), {"language": "en", "next": "/hotlines/"})
    assert response.status_code == 302
    page = client.get(reverse("hotlines:hotline_list"))
    assert page["Content-Language"] == "en"
    assert "Hotline management" in page.content.decode()


def test_times_are_shown_in_vietnam_time(settings):
    assert settings.TIME_ZONE == "Asia/Ho_Chi_Minh"


def test_api_clients_choose_their_language_with_accept_language(client, world):
    from tests.api import api_client

    api = api_client(world.admin_a)
    api.cookies.clear()
    url = "/api/v1/extensions/"
    bad = {"hotline": world.hotline_a.pk, "number": "1", "alias": "sale 01"}
    english = api.post(url, bad, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    vietnamese = api.post(url, bad)
    assert english.status_code == vietnamese.status_code == 400
    assert english["Content-Language"] == "en"
    assert "spaces" in " ".join(english.json()["alias"])
    assert vietnamese["Content-Language"] == "vi"
