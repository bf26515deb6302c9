"""/api/v1/hotlines/ (read) and /api/v1/number-groups/ (CRUD through hotlines.services)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from hotlines.models import NumberGroup, NumberGroupMember
from hotlines.services import number_group_create
from tests.api import api_client, errors
from tests.factories import HotlineFactory, TenantFactory, make_admin, make_extension

pytestmark = pytest.mark.django_db


def hotline_url(hotline=None) -> str:
    if hotline is None:
        return reverse("api:hotline-list")
    return reverse("api:hotline-detail", kwargs={"pk": hotline.pk})


def group_url(group=None) -> str:
    if group is None:
        return reverse("api:numbergroup-list")
    return reverse("api:numbergroup-detail", kwargs={"pk": group.pk})


def member_ids(group) -> list[int]:
    return list(
        NumberGroupMember.objects.filter(group=group)
        .order_by("position")
        .values_list("hotline_id", flat=True)
    )


@pytest.fixture
def admin(world):
    return api_client(world.admin_a)


# --- hotlines -----------------------------------------------------------------------------


def test_hotlines_of_the_tenant_with_their_extension_count(admin, world):
    body = admin.get(hotline_url()).json()
    assert body["count"] == 2
    first = body["results"][0]
    hotline = world.hotline_a
    assert first == {
        "id": hotline.pk,
        "number": hotline.number,
        "name": hotline.name,
        "kind": "1900",
        "carrier": hotline.carrier,
        "sip_domain": hotline.sip_domain,
        "extension_count": 3,
        "outbound_schedule": None,
    }
    assert body["results"][1]["extension_count"] == 0
    assert world.hotline_b.sip_domain not in str(body)


def test_hotline_detail_and_other_tenants_hotline(admin, world):
    assert admin.get(hotline_url(world.hotline_a2)).json()["id"] == world.hotline_a2.pk
    response = admin.get(hotline_url(world.hotline_b))
    assert response.status_code == 404
    assert world.hotline_b.sip_domain not in response.content.decode()


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_hotlines_are_read_only(admin, world, method):
    url = hotline_url() if method == "post" else hotline_url(world.hotline_a)
    assert getattr(admin, method)(url, {"name": "x"}).status_code == 405


def test_a_patch_changes_only_the_outbound_schedule(admin, world):
    response = admin.patch(hotline_url(world.hotline_a), {"name": "x"})
    assert response.status_code == 400 and "outbound_schedule" in response.json()
    world.hotline_a.refresh_from_db()
    assert world.hotline_a.name != "x"


# --- number groups ------------------------------------------------------------------------


def test_number_group_list(admin, world):
    number_group_create(
        tenant=world.tenant_a,
        name="Outbound",
        strategy="round_robin",
        hotlines=[world.hotline_a2, world.hotline_a],
    )
    body = admin.get(group_url()).json()
    assert body["count"] == 2
    assert body["results"] == [
        {"id": world.group_a.pk, "name": "Group A", "strategy": "same_carrier", "hotlines": []},
        {
            "id": NumberGroup.objects.get(name="Outbound").pk,
            "name": "Outbound",
            "strategy": "round_robin",
            "hotlines": [world.hotline_a2.pk, world.hotline_a.pk],
        },
    ]


def test_create_keeps_the_order_of_the_hotlines(admin, world):
    response = admin.post(
        group_url(),
        {"name": "Gọi ra", "strategy": "first", "hotlines": [world.hotline_a2.pk, world.hotline_a.pk]},
    )
    assert response.status_code == 201, response.content
    group = NumberGroup.objects.get(pk=response.json()["id"])
    assert response.json() == {
        "id": group.pk,
        "name": "Gọi ra",
        "strategy": "first",
        "hotlines": [world.hotline_a2.pk, world.hotline_a.pk],
    }
    assert group.tenant == world.tenant_a
    assert member_ids(group) == [world.hotline_a2.pk, world.hotline_a.pk]


def test_create_defaults(admin, world):
    response = admin.post(group_url(), {"name": "Empty"})
    assert response.json()["strategy"] == "same_carrier"
    assert response.json()["hotlines"] == []


def test_update_reorders_and_renames(admin, world):
    group = world.group_a
    admin.patch(group_url(group), {"hotlines": [world.hotline_a.pk, world.hotline_a2.pk]})
    response = admin.patch(group_url(group), {"hotlines": [world.hotline_a2.pk, world.hotline_a.pk]})
    assert response.json()["hotlines"] == [world.hotline_a2.pk, world.hotline_a.pk]
    response = admin.put(group_url(group), {"name": "Renamed", "strategy": "random"})
    assert response.status_code == 200
    assert response.json() == {
        "id": group.pk,
        "name": "Renamed",
        "strategy": "random",
        "hotlines": [world.hotline_a2.pk, world.hotline_a.pk],
    }


# The same rules as the dashboard's number group form (hotlines/tests/test_views.py).
@pytest.mark.parametrize(
    "data, field, fragment",
    [
        ({"name": "group a"}, "name", "already exists"),  # case-insensitive, per tenant
        ({"name": ""}, "name", "blank"),
        ({"name": "G", "strategy": "cheapest"}, "strategy", "not a valid choice"),
        ({"name": "G", "hotlines": "twice"}, "hotlines", "listed twice"),
        ({"name": "G", "hotlines": "foreign"}, "hotlines", "does not exist"),
        ({"name": "G", "hotlines": [999999]}, "hotlines", "does not exist"),
    ],
)
def test_create_refuses_what_the_dashboard_refuses(admin, world, data, field, fragment):
    hotlines = {
        "twice": [world.hotline_a.pk, world.hotline_a.pk],
        "foreign": [world.hotline_a.pk, world.hotline_b.pk],
    }
    if isinstance(data.get("hotlines"), str):
        data = {**data, "hotlines": hotlines[data["hotlines"]]}
    response = admin.post(group_url(), data)
    assert fragment in errors(response, field)
    assert world.hotline_b.sip_domain not in response.content.decode()
    assert NumberGroup.objects.filter(tenant=world.tenant_a).count() == 1


def test_the_same_name_in_another_tenant_is_fine(admin, world):
    assert admin.post(group_url(), {"name": "Group B"}).status_code == 201


def test_update_refuses_another_tenants_hotline(admin, world):
    response = admin.patch(group_url(world.group_a), {"hotlines": [world.hotline_b.pk]})
    assert "does not exist" in errors(response, "hotlines")
    assert member_ids(world.group_a) == []


def test_delete_leaves_the_extensions_that_used_it(admin, world):
    assert admin.delete(group_url(world.group_a)).status_code == 204
    assert not NumberGroup.objects.filter(pk=world.group_a.pk).exists()
    assert list(world.ext_a["101"].outbound_groups.all()) == []


# --- who may do what ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", lambda w: hotline_url()),
        ("get", lambda w: hotline_url(w.hotline_a)),
        ("get", lambda w: group_url()),
        ("post", lambda w: group_url()),
        ("get", lambda w: group_url(w.group_a)),
        ("patch", lambda w: group_url(w.group_a)),
        ("put", lambda w: group_url(w.group_a)),
        ("delete", lambda w: group_url(w.group_a)),
    ],
)
def test_agents_get_403(world, method, url):
    response = getattr(api_client(world.agent_a), method)(url(world), {"name": "agent"})
    assert response.status_code == 403
    assert NumberGroup.objects.get(pk=world.group_a.pk).name == "Group A"


@pytest.mark.parametrize("method", ["get", "patch", "put", "delete"])
def test_other_tenant_gets_404_for_a_group(world, method):
    response = getattr(api_client(world.admin_b), method)(group_url(world.group_a), {"name": "x"})
    assert response.status_code == 404
    assert "Group A" not in response.content.decode()
    assert NumberGroup.objects.get(pk=world.group_a.pk).name == "Group A"


def test_anonymous_gets_401(world):
    assert api_client().get(hotline_url()).status_code == 401
    assert api_client().get(group_url()).status_code == 401


# --- queries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, expected",
    [
        (hotline_url, 3),  # the token with its user and membership, count, page (extension counts annotated)
        (group_url, 4),  # … and the members, prefetched in order
    ],
)
def test_list_query_counts_do_not_grow(url, expected):
    tenant = TenantFactory()
    client = api_client(make_admin(tenant))
    client.get(url())  # the token's first use records its last-use time (once a minute)

    def add(count: int) -> int:
        for _ in range(count):
            hotline = HotlineFactory(tenant=tenant)
            make_extension(hotline, "100")
            number_group_create(
                tenant=tenant, name=f"G{hotline.number}", strategy="first", hotlines=[hotline]
            )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(), {"page_size": 500})
        assert response.status_code == 200
        return len(queries)

    few = add(5)
    assert add(45) == few == expected
