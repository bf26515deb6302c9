"""Every dashboard route × anonymous / other tenant / agent / admin."""

import pytest
from django.urls import resolve, reverse

pytestmark = pytest.mark.django_db

# (url name, kwargs builder from the world, admin-only?)
ROUTES = [
    ("hotlines:hotline_list", lambda w: {}, True),
    ("hotlines:hotline_detail", lambda w: {"pk": w.hotline_a.pk}, True),
    ("extensions:extension_list", lambda w: {"hotline_pk": w.hotline_a.pk}, True),
    ("extensions:extension_add", lambda w: {"hotline_pk": w.hotline_a.pk}, True),
    ("extensions:extension_edit", lambda w: {"pk": w.ext_a["102"].pk}, True),
    ("extensions:extension_delete", lambda w: {"pk": w.ext_a["102"].pk}, True),
    ("hotlines:numbergroup_list", lambda w: {}, True),
    ("hotlines:numbergroup_add", lambda w: {}, True),
    ("hotlines:numbergroup_edit", lambda w: {"pk": w.group_a.pk}, True),
    ("hotlines:numbergroup_delete", lambda w: {"pk": w.group_a.pk}, True),
    ("extensions:extension_detail", lambda w: {"pk": w.ext_a["102"].pk}, False),
]
LIST_ROUTES = {"hotlines:hotline_list", "hotlines:numbergroup_list", "hotlines:numbergroup_add"}
OBJECT_ROUTES = [r for r in ROUTES if r[0] not in LIST_ROUTES]


@pytest.mark.parametrize("name, kwargs, admin_only", ROUTES)
def test_anonymous_is_sent_to_sign_in(client, world, name, kwargs, admin_only):
    url = reverse(name, kwargs=kwargs(world))
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name, kwargs, admin_only", ROUTES)
def test_admin_of_the_tenant_opens_every_page(client, world, name, kwargs, admin_only):
    client.force_login(world.admin_a)
    assert client.get(reverse(name, kwargs=kwargs(world))).status_code == 200


@pytest.mark.parametrize("name, kwargs, admin_only", OBJECT_ROUTES)
def test_other_tenant_gets_404_for_every_object(client, world, name, kwargs, admin_only):
    client.force_login(world.admin_b)
    url = reverse(name, kwargs=kwargs(world))
    responses = [client.get(url)]
    if hasattr(resolve(url).func.view_class, "post"):
        responses.append(client.post(url, {}))
    for response in responses:
        assert response.status_code == 404
        assert world.hotline_a.sip_domain not in response.content.decode()


@pytest.mark.parametrize("name, kwargs, admin_only", [r for r in ROUTES if r[2]])
def test_agent_cannot_open_admin_pages(client, world, name, kwargs, admin_only):
    client.force_login(world.agent_a)
    url = reverse(name, kwargs=kwargs(world))
    assert client.get(url).status_code == 403
    assert client.post(url, {}).status_code == 403


def test_agent_sees_only_their_own_extension(client, world):
    client.force_login(world.agent_a)
    own = world.ext_a["101"]
    response = client.get(reverse("home"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("extensions:extension_detail", kwargs={"pk": own.pk})
    revealed = client.post(reverse("extensions:extension_reveal", kwargs={"pk": own.pk}))
    assert own.get_sip_password() in revealed.content.decode()
    other = world.ext_a["102"]
    assert client.get(reverse("extensions:extension_detail", kwargs={"pk": other.pk})).status_code == 404
    assert client.post(reverse("extensions:extension_reveal", kwargs={"pk": other.pk})).status_code == 404


def test_user_without_tenant_is_refused(client, world, django_user_model):
    client.force_login(django_user_model.objects.create_user("stranger", password="pw"))
    assert client.get(reverse("hotlines:hotline_list")).status_code == 403
