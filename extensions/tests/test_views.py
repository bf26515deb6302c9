import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from extensions.choices import CallPermission
from extensions.models import Extension
from tests.factories import HotlineFactory, make_admin, make_extension

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.admin_a)
    return client


def create_url(hotline):
    return reverse("extensions:extension_add", kwargs={"hotline_pk": hotline.pk})


def post_create(client, hotline, **overrides):
    data = {
        "number": "103",
        "alias": "sale03",
        "call_permission": CallPermission.MOBILE,
        "description": "",
        "enabled": "on",
        "password": "",
    }
    data.update(overrides)
    return client.post(create_url(hotline), data)


def test_create_form_defaults_to_mobile_and_explains_the_levels(admin_client, world):
    response = admin_client.get(create_url(world.hotline_a))
    html = response.content.decode()
    assert re.search(r'<option value="3"\s+selected>', html)
    assert "Mỗi quyền bao gồm các quyền trước nó" in html or "Each level includes" in html


def test_create_extension_through_the_form(admin_client, world):
    response = post_create(
        admin_client,
        world.hotline_a,
        supervisor="100",  # typed as a number (the picker offers matches)
        outbound_groups=[world.group_a.pk],
        outbound_hotlines=[world.hotline_a2.pk],
        description="Nhân viên mới",
    )
    ext = Extension.objects.get(hotline=world.hotline_a, number="103")
    assert response.status_code == 302
    assert response.url == reverse("extensions:extension_detail", kwargs={"pk": ext.pk})
    assert ext.supervisor == world.ext_a["100"]
    assert list(ext.outbound_groups.all()) == [world.group_a]
    assert list(ext.outbound_hotlines.all()) == [world.hotline_a2]
    assert ext.description == "Nhân viên mới"


@pytest.mark.parametrize(
    "overrides, field, fragment",
    [
        ({"number": "101"}, "number", "already exists"),
        ({"alias": "Đức bán"}, "alias", "spaces"),
        ({"alias": "Đức"}, "alias", "diacritics"),
        ({"password": "weakpass"}, "password", "at least 10"),
        ({"password": "Sale03Abcdefg"}, "password", "alias"),
    ],
)
def test_create_errors_reach_the_form_in_english(admin_client, world, overrides, field, fragment):
    admin_client.cookies["django_language"] = "en"
    response = post_create(admin_client, world.hotline_a, **overrides)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert any(fragment in message for message in errors[field]), errors
    assert not Extension.objects.filter(hotline=world.hotline_a, number="103").exists()


def test_supervisor_of_another_hotline_cannot_be_chosen(admin_client, world):
    other = make_extension(world.hotline_a2, "200")
    response = post_create(admin_client, world.hotline_a, supervisor=other.number)
    assert response.status_code == 400
    assert "supervisor" in response.context["form"].errors


def test_caller_id_of_another_tenant_cannot_be_chosen(admin_client, world):
    response = post_create(
        admin_client,
        world.hotline_a,
        outbound_hotlines=[world.hotline_b.pk],
        outbound_groups=[world.group_b.pk],
    )
    assert response.status_code == 400
    assert {"outbound_hotlines", "outbound_groups"} <= set(response.context["form"].errors)


def test_password_is_hidden_until_reveal(admin_client, world):
    ext = world.ext_a["101"]
    password = ext.get_sip_password()
    detail = admin_client.get(reverse("extensions:extension_detail", kwargs={"pk": ext.pk}))
    assert detail.status_code == 200
    assert password not in detail.content.decode()
    assert ext.hotline.sip_domain in detail.content.decode()
    assert admin_client.get(reverse("extensions:extension_reveal", kwargs={"pk": ext.pk})).status_code == 405
    revealed = admin_client.post(reverse("extensions:extension_reveal", kwargs={"pk": ext.pk}))
    html = revealed.content.decode()
    assert revealed["Cache-Control"] == "no-store"
    for value in (
        password,
        f"sip:101@{ext.hotline.sip_domain}",
        "127.0.0.1:5060",
        "ws://127.0.0.1:8088/ws",
        "sale",
    ):
        assert value in html


def test_list_pages_never_show_passwords(admin_client, world):
    passwords = [e.get_sip_password() for e in world.ext_a.values()]
    for url in (
        reverse("extensions:extension_list", kwargs={"hotline_pk": world.hotline_a.pk}),
        reverse("hotlines:hotline_list"),
        reverse("hotlines:numbergroup_list"),
    ):
        html = admin_client.get(url).content.decode()
        assert not any(p in html for p in passwords)


def edit_data(ext, **overrides):
    data = {
        "alias": ext.alias,
        "call_permission": ext.call_permission,
        "supervisor": ext.supervisor.number if ext.supervisor_id else "",
        "description": ext.description,
        "enabled": "on" if ext.enabled else "",
        "password": "",
        "version": ext.version,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != "" or k in ("password", "supervisor")}


def test_edit_changes_the_password_and_everything_else(admin_client, world):
    ext = world.ext_a["102"]
    url = reverse("extensions:extension_edit", kwargs={"pk": ext.pk})
    form = admin_client.get(url)
    assert form.status_code == 200
    response = admin_client.post(
        url,
        edit_data(
            ext,
            alias="kd99",
            call_permission=CallPermission.INTERNATIONAL,
            supervisor="101",
            password="N3w-Passw0rd-Xyz",
            enabled="",
            outbound_groups=[world.group_a.pk],
        ),
    )
    assert response.status_code == 302, response.context["form"].errors
    ext.refresh_from_db()
    assert ext.alias == "kd99"
    assert ext.get_sip_password() == "N3w-Passw0rd-Xyz"
    assert ext.supervisor == world.ext_a["101"]
    assert not ext.enabled
    assert list(ext.outbound_groups.all()) == [world.group_a]


def test_edit_can_regenerate_the_password(admin_client, world):
    ext = world.ext_a["102"]
    old = ext.get_sip_password()
    response = admin_client.post(
        reverse("extensions:extension_edit", kwargs={"pk": ext.pk}), edit_data(ext, regenerate_password="on")
    )
    assert response.status_code == 302
    ext.refresh_from_db()
    assert ext.get_sip_password() != old


def test_simultaneous_edit_is_refused_and_nothing_is_lost(admin_client, world):
    ext = world.ext_a["102"]
    url = reverse("extensions:extension_edit", kwargs={"pk": ext.pk})
    first = edit_data(ext, description="first admin")
    second = edit_data(ext, description="second admin", alias="kd02")
    assert admin_client.post(url, first).status_code == 302
    response = admin_client.post(url, second)
    assert response.status_code == 409
    html = response.content.decode()
    assert "second admin" in html  # the second admin's typing is still in the form
    assert "first admin" in html  # and they see what is saved now
    ext.refresh_from_db()
    assert ext.description == "first admin"
    assert ext.alias == "kd01" or ext.alias == world.ext_a["102"].alias
    # Saving again, now knowingly, goes through.
    resubmit = edit_data(ext, description="second admin", alias="kd02")
    assert admin_client.post(url, resubmit).status_code == 302


def test_delete_confirmation_names_what_it_supervises(admin_client, world):
    boss = world.ext_a["100"]
    url = reverse("extensions:extension_delete", kwargs={"pk": boss.pk})
    html = admin_client.get(url).content.decode()
    assert "101 (salea)" in html
    response = admin_client.post(url)
    assert response.status_code == 302
    assert not Extension.objects.filter(pk=boss.pk).exists()
    supervised = Extension.objects.get(pk=world.ext_a["101"].pk)
    assert supervised.supervisor is None


def test_list_searches_filters_and_sorts(admin_client, world):
    url = reverse("extensions:extension_list", kwargs={"hotline_pk": world.hotline_a.pk})
    make_extension(world.hotline_a, "99", "old99", call_permission=CallPermission.INTERNAL)

    def numbers(**params):
        response = admin_client.get(url, params)
        return [row["number"] for row in response.context["page"]]

    assert numbers() == ["99", "100", "101", "102"]
    assert numbers(search="sale") == ["101"]
    assert numbers(search="10") == ["100", "101", "102"]
    assert numbers(call_permission="internal") == ["99"]
    assert numbers(enabled="false") == []
    assert numbers(call_permission="bogus") == ["99", "100", "101", "102"]


def test_list_paginates(admin_client, world):
    for n in range(200, 260):
        make_extension(world.hotline_a, str(n))
    url = reverse("extensions:extension_list", kwargs={"hotline_pk": world.hotline_a.pk})
    page1 = admin_client.get(url)
    page2 = admin_client.get(url, {"page": 2})
    assert len(page1.context["page"]) == 50
    assert len(page2.context["page"]) == 13
    assert admin_client.get(url, {"page": 99}).status_code == 200


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("route", ["extension_list", "hotline_list"])
def test_list_query_count_does_not_grow_with_rows(client, route):
    hotline = HotlineFactory()
    client.force_login(make_admin(hotline.tenant))
    for n in range(100, 105):
        make_extension(hotline, str(n))
    url = (
        reverse("extensions:extension_list", kwargs={"hotline_pk": hotline.pk})
        if route == "extension_list"
        else reverse("hotlines:hotline_list")
    )
    small = count_queries(client, url)
    Extension.objects.bulk_create(
        [
            Extension(
                hotline=hotline, number=str(n), alias=f"x{n}", password_encrypted="x", ha1="x", ha1b="x"
            )
            for n in range(1000, 1495)
        ]
    )
    assert count_queries(client, url) == small
    assert small <= 8
