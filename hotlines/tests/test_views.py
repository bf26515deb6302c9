import pytest
from django.urls import reverse

from hotlines.models import NumberGroup

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    return client


def test_hotline_list_shows_only_own_hotlines_formatted(admin_client, world):
    html = admin_client.get(reverse("hotlines:hotline_list")).content.decode()
    assert world.hotline_a.display_number in html
    assert world.hotline_b.display_number not in html
    assert " " in world.hotline_a.display_number  # "1900 1000", the Vietnamese way


def test_create_number_group_keeps_submitted_order(admin_client, world):
    response = admin_client.post(
        reverse("hotlines:numbergroup_add"),
        {
            "name": "Outbound HN",
            "strategy": "round_robin",
            "hotlines": [world.hotline_a2.pk, world.hotline_a.pk],
        },
    )
    assert response.status_code == 302
    group = NumberGroup.objects.get(name="Outbound HN")
    assert [m.hotline for m in group.members.order_by("position")] == [world.hotline_a2, world.hotline_a]


def test_edit_number_group_shows_members_first_in_order(admin_client, world):
    url = reverse("hotlines:numbergroup_edit", kwargs={"pk": world.group_a.pk})
    assert (
        admin_client.post(
            url, {"name": "Renamed", "strategy": "first", "hotlines": [world.hotline_a2.pk]}
        ).status_code
        == 302
    )
    form = admin_client.get(url).context["form"]
    assert form.fields["hotlines"].choices[0][0] == world.hotline_a2.pk
    world.group_a.refresh_from_db()
    assert world.group_a.name == "Renamed"


def test_number_group_errors_reach_the_form(admin_client, world):
    response = admin_client.post(
        reverse("hotlines:numbergroup_add"),
        {"name": world.group_a.name.upper(), "strategy": "first", "hotlines": [world.hotline_b.pk]},
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "hotlines" in errors  # another tenant's hotline is not even a choice


def test_duplicate_group_name_is_a_name_error(admin_client, world):
    response = admin_client.post(
        reverse("hotlines:numbergroup_add"), {"name": world.group_a.name.upper(), "strategy": "first"}
    )
    assert response.status_code == 400
    assert "already exists" in response.context["form"].errors["name"][0]


def test_delete_number_group(admin_client, world):
    url = reverse("hotlines:numbergroup_delete", kwargs={"pk": world.group_a.pk})
    assert "1" in admin_client.get(url).content.decode()
    assert admin_client.post(url).status_code == 302
    assert not NumberGroup.objects.filter(pk=world.group_a.pk).exists()
