"""The platform operator's Django admin cannot break the rules the dashboard keeps: number
group members of one tenant, no hotline moved away from what uses it, and every hotline change
audited and announced (hotline_changed → Kamailio reloads its domains)."""

import pytest
from django.urls import reverse

from audit.choices import Action
from audit.models import AuditEvent
from hotlines.models import Hotline, NumberGroup, NumberGroupMember
from hotlines.services import number_group_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_client):
    """A superuser (the platform operator) reading the admin in English; one test reads it
    in Vietnamese, the default."""
    admin_client.cookies["django_language"] = "en"
    return admin_client


def hotline_form(hotline, **changes) -> dict:
    data = {
        "tenant": hotline.tenant_id,
        "number": hotline.number,
        "name": hotline.name,
        "carrier": hotline.carrier,
        "enabled": "on" if hotline.enabled else "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def group_form(group=None, *, members=(), tenant=None, **changes) -> dict:
    """The group's fields and its member rows (management form prefix "members")."""
    existing = list(group.members.order_by("position")) if group is not None else []
    data = {
        "name": group.name if group is not None else "Gọi ra",
        "strategy": group.strategy if group is not None else "round_robin",
        "members-TOTAL_FORMS": len(existing) + len(members),
        "members-INITIAL_FORMS": len(existing),
        "members-MIN_NUM_FORMS": 0,
        "members-MAX_NUM_FORMS": 1000,
    }
    if tenant is not None:
        data["tenant"] = tenant.pk
    for i, member in enumerate(existing):
        data |= {f"members-{i}-id": member.pk, f"members-{i}-hotline": member.hotline_id}
        data |= {f"members-{i}-position": member.position, f"members-{i}-group": group.pk}
    for j, hotline in enumerate(members, start=len(existing)):
        data |= {f"members-{j}-hotline": hotline.pk, f"members-{j}-position": j}
        if group is not None:
            data[f"members-{j}-group"] = group.pk
    data.update(changes)
    return data


def errors_of(response) -> str:
    assert response.status_code == 200, response.status_code  # the form again, not a redirect
    return response.content.decode()


# -- Number groups --------------------------------------------------------------------------------


def test_admin_refuses_another_tenants_hotline_as_a_group_member(admin_client, world):
    url = reverse("admin:hotlines_numbergroup_change", args=[world.group_a.pk])

    page = errors_of(admin_client.post(url, group_form(world.group_a, members=[world.hotline_b])))

    assert "A hotline belongs to another customer." in page
    assert not NumberGroupMember.objects.filter(group=world.group_a).exists()
    assert not AuditEvent.objects.filter(object_type="hotlines.numbergroup").exists()


def test_admin_refuses_a_new_group_with_another_tenants_hotline(admin_client, world):
    data = group_form(tenant=world.tenant_a, members=[world.hotline_a, world.hotline_b], name="Mixed")

    page = errors_of(admin_client.post(reverse("admin:hotlines_numbergroup_add"), data))

    assert "A hotline belongs to another customer." in page
    assert not NumberGroup.objects.filter(name="Mixed").exists()


def test_admin_group_change_goes_through_the_service(admin_client, world):
    """Saved in the rows' order, with an audit row; the group's tenant cannot be changed."""
    url = reverse("admin:hotlines_numbergroup_change", args=[world.group_a.pk])
    data = group_form(
        world.group_a, members=[world.hotline_a2, world.hotline_a], name="Ra", tenant=world.tenant_b
    )
    data["members-0-position"], data["members-1-position"] = 5, 1

    response = admin_client.post(url, data)

    assert response.status_code == 302
    group = NumberGroup.objects.get(pk=world.group_a.pk)
    assert (group.name, group.tenant) == ("Ra", world.tenant_a)
    assert [m.hotline for m in group.members.order_by("position")] == [world.hotline_a, world.hotline_a2]
    event = AuditEvent.objects.get(object_type="hotlines.numbergroup", action=Action.UPDATE)
    assert event.changes["hotlines"] == [[], [world.hotline_a.number, world.hotline_a2.number]]


def test_admin_refuses_a_group_name_its_tenant_already_uses(admin_client, world):
    NumberGroup.objects.create(tenant=world.tenant_a, name="Taken")
    url = reverse("admin:hotlines_numbergroup_change", args=[world.group_a.pk])

    page = errors_of(admin_client.post(url, group_form(world.group_a, name="taken")))

    assert "A number group with this name already exists." in page


def test_admin_adds_a_group_through_the_service(admin_client, world):
    data = group_form(tenant=world.tenant_a, members=[world.hotline_a2], name="Mới")

    response = admin_client.post(reverse("admin:hotlines_numbergroup_add"), data)

    assert response.status_code == 302
    group = NumberGroup.objects.get(tenant=world.tenant_a, name="Mới")
    assert list(group.hotlines.all()) == [world.hotline_a2]
    assert AuditEvent.objects.filter(object_type="hotlines.numbergroup", action=Action.CREATE).count() == 1


def test_admin_bulk_delete_of_groups_is_audited(admin_client, world):
    data = {
        "action": "delete_selected",
        "_selected_action": [world.group_a.pk, world.group_b.pk],
        "post": "yes",
    }

    response = admin_client.post(reverse("admin:hotlines_numbergroup_changelist"), data)

    assert response.status_code == 302
    assert not NumberGroup.objects.exists()
    assert AuditEvent.objects.filter(object_type="hotlines.numbergroup", action=Action.DELETE).count() == 2


# -- Hotlines -------------------------------------------------------------------------------------


def test_admin_refuses_to_move_a_hotline_with_extensions(admin_client, world):
    url = reverse("admin:hotlines_hotline_change", args=[world.hotline_a.pk])

    page = errors_of(admin_client.post(url, hotline_form(world.hotline_a, tenant=world.tenant_b.pk)))

    assert "cannot move to another tenant: 3 extensions on it" in page
    world.hotline_a.refresh_from_db()
    assert world.hotline_a.tenant == world.tenant_a
    assert not AuditEvent.objects.filter(object_type="hotlines.hotline").exists()


def test_admin_refuses_to_move_a_hotline_in_a_group_or_used_as_caller_id(admin_client, world):
    number_group_update(group=world.group_a, hotlines=[world.hotline_a2])
    world.ext_a["100"].outbound_hotlines.add(world.hotline_a2)
    url = reverse("admin:hotlines_hotline_change", args=[world.hotline_a2.pk])

    page = errors_of(admin_client.post(url, hotline_form(world.hotline_a2, tenant=world.tenant_b.pk)))

    assert "number group “Group A”; caller ID of 1 other extension" in page
    world.hotline_a2.refresh_from_db()
    assert world.hotline_a2.tenant == world.tenant_a


def test_admin_refuses_a_new_number_for_a_hotline_with_extensions(admin_client, world):
    url = reverse("admin:hotlines_hotline_change", args=[world.hotline_a.pk])

    page = errors_of(admin_client.post(url, hotline_form(world.hotline_a, number="1900 7777")))

    assert "its number cannot change" in page
    assert Hotline.objects.get(pk=world.hotline_a.pk).number == world.hotline_a.number


def test_admin_hotline_change_is_audited_and_announced_on_commit(
    admin_client, world, hotline_signals, django_capture_on_commit_callbacks
):
    url = reverse("admin:hotlines_hotline_change", args=[world.hotline_a.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, hotline_form(world.hotline_a, name="Tổng đài mới", enabled=""))

    assert response.status_code == 302
    event = AuditEvent.objects.get(object_type="hotlines.hotline", object_id=str(world.hotline_a.pk))
    assert event.action == Action.UPDATE
    assert event.changes == {"name": [world.hotline_a.name, "Tổng đài mới"], "enabled": [True, False]}
    assert event.actor.username == "admin"
    assert hotline_signals == [
        {"hotline_ids": [world.hotline_a.pk], "action": "update", "moved_from_tenant_id": None}
    ]


def test_admin_moves_a_free_hotline_with_an_audit_row_for_each_tenant(
    admin_client, world, hotline_signals, django_capture_on_commit_callbacks
):
    url = reverse("admin:hotlines_hotline_change", args=[world.hotline_a2.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, hotline_form(world.hotline_a2, tenant=world.tenant_b.pk))

    assert response.status_code == 302
    assert Hotline.objects.get(pk=world.hotline_a2.pk).tenant == world.tenant_b
    events = AuditEvent.objects.filter(object_type="hotlines.hotline")
    assert sorted(events.values_list("tenant_id", flat=True)) == sorted(
        [world.tenant_a.pk, world.tenant_b.pk]
    )
    assert hotline_signals[0]["moved_from_tenant_id"] == world.tenant_a.pk


def test_admin_adds_a_hotline_through_the_service(
    admin_client, world, hotline_signals, django_capture_on_commit_callbacks
):
    data = {"tenant": world.tenant_a.pk, "number": "024 7300 1234", "name": "Hà Nội", "enabled": "on"}

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:hotlines_hotline_add"), data)

    assert response.status_code == 302
    hotline = Hotline.objects.get(number="02473001234")
    assert hotline.sip_domain == "02473001234.sip.example.vn"
    assert AuditEvent.objects.filter(object_type="hotlines.hotline", action=Action.CREATE).count() == 1
    assert hotline_signals == [
        {"hotline_ids": [hotline.pk], "action": "create", "moved_from_tenant_id": None}
    ]


def test_admin_will_not_delete_a_hotline_in_use(admin_client, world):
    url = reverse("admin:hotlines_hotline_delete", args=[world.hotline_a.pk])

    page = admin_client.get(url).content.decode()
    response = admin_client.post(url, {"post": "yes"})

    assert "cannot be deleted: 3 extensions on it" in page
    assert response.status_code == 200
    assert Hotline.objects.filter(pk=world.hotline_a.pk).exists()
    assert world.hotline_a.extensions.count() == 3


def test_admin_deletes_free_hotlines_through_the_service(
    admin_client, world, hotline_signals, django_capture_on_commit_callbacks
):
    pks = [world.hotline_a2.pk, world.hotline_b2.pk]
    data = {"action": "delete_selected", "_selected_action": pks, "post": "yes"}

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:hotlines_hotline_changelist"), data)

    assert response.status_code == 302
    assert not Hotline.objects.filter(pk__in=pks).exists()
    assert AuditEvent.objects.filter(object_type="hotlines.hotline", action=Action.DELETE).count() == 2
    assert sorted(s["hotline_ids"][0] for s in hotline_signals) == sorted(pks)


def test_admin_bulk_delete_refuses_a_selection_with_a_hotline_in_use(admin_client, world):
    pks = [world.hotline_a.pk, world.hotline_a2.pk]
    data = {"action": "delete_selected", "_selected_action": pks, "post": "yes"}

    response = admin_client.post(reverse("admin:hotlines_hotline_changelist"), data)

    assert "cannot be deleted: 3 extensions on it" in response.content.decode()
    assert Hotline.objects.filter(pk__in=pks).count() == 2


# -- Extensions: the operator looks; writes are the dashboard's (extensions.services). ------------


def test_extension_admin_is_read_only(admin_client, world):
    ext = world.ext_a["102"]

    assert admin_client.get(reverse("admin:extensions_extension_change", args=[ext.pk])).status_code == 200
    assert admin_client.get(reverse("admin:extensions_extension_delete", args=[ext.pk])).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:extensions_extension_delete", args=[ext.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    data = {"action": "delete_selected", "_selected_action": [ext.pk], "post": "yes"}
    admin_client.post(reverse("admin:extensions_extension_changelist"), data)
    assert world.hotline_a.extensions.filter(pk=ext.pk).exists()


def test_the_operator_reads_the_refusal_in_vietnamese_by_default(client, admin_user, world):
    client.force_login(admin_user)
    url = reverse("admin:hotlines_hotline_change", args=[world.hotline_a.pk])

    page = errors_of(
        client.post(url, hotline_form(world.hotline_a, tenant=world.tenant_b.pk, number="1900 7777"))
    )

    assert "không thể chuyển sang khách hàng khác: 3 máy lẻ của đầu số." in page
    assert "Đầu số đã có máy lẻ nên không thể đổi số" in page
    page = client.get(reverse("admin:hotlines_hotline_delete", args=[world.hotline_a.pk])).content.decode()
    assert "Đầu số đang được dùng nên không thể xoá: 3 máy lẻ của đầu số." in page
