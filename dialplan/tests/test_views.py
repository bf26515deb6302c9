"""The dial check ("Kiểm tra quyền gọi") on the extension page."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from extensions.choices import CallPermission
from extensions.services import extension_update


def url(extension, number=None) -> str:
    path = reverse("extensions:extension_dial_check", kwargs={"pk": extension.pk})
    return f"{path}?{urlencode({'number': number})}" if number is not None else path


@pytest.fixture
def admin_client(client, world, vn_rules):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    return client


def test_the_extension_page_offers_the_check(admin_client, world):
    detail = reverse("extensions:extension_detail", kwargs={"pk": world.ext_a["101"].pk})
    html = admin_client.get(detail).content.decode()
    assert 'id="dial-check"' in html
    assert f'action="{url(world.ext_a["101"])}#dial-check"' in html


def test_an_allowed_number_shows_the_rule_and_the_caller_id(admin_client, world):
    response = admin_client.get(url(world.ext_a["101"], "0912 345 678"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "alert-success" in html
    assert "mobile-vinaphone" in html
    assert "Caller ID shown" in html


def test_a_refused_number_says_which_permission_it_needs(admin_client, world):
    html = admin_client.get(url(world.ext_a["101"], "+1 202 555 0100")).content.decode()
    assert "alert-danger" in html
    assert "International" in html and "403 Call permission: international required" in html
    assert "plus-international" in html  # normalised to 00…


def test_a_permission_change_shows_at_once(admin_client, world):
    extension = extension_update(
        extension=world.ext_a["101"], data={"call_permission": CallPermission.INTERNATIONAL}
    )
    assert "alert-success" in admin_client.get(url(extension, "0012025550100")).content.decode()


@pytest.mark.parametrize("number", ["", "abc", "0912<script>", "1" * 40])
def test_garbage_is_a_form_error(admin_client, world, number):
    response = admin_client.get(url(world.ext_a["101"], number))
    html = response.content.decode()
    assert response.status_code == 400
    assert "is-invalid" in html
    assert "0912<script>" not in html


def test_agents_check_their_own_extension_only(client, world, vn_rules):
    client.force_login(world.agent_a)
    assert client.get(url(world.ext_a["101"], "115")).status_code == 200
    assert client.get(url(world.ext_a["102"], "115")).status_code == 404


def test_other_tenants_and_anonymous(client, world, vn_rules):
    assert client.get(url(world.ext_a["101"], "115")).status_code == 302  # to sign in
    client.force_login(world.admin_b)
    assert client.get(url(world.ext_a["101"], "115")).status_code == 404
