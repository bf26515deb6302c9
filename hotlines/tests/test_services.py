import pytest
from django.core.exceptions import ValidationError

from audit.choices import Action
from audit.models import AuditEvent
from hotlines.models import Hotline, NumberGroup
from hotlines.services import (
    hotline_create,
    hotline_delete,
    hotline_update,
    number_group_create,
    number_group_delete,
    number_group_update,
)
from tests.factories import HotlineFactory, TenantFactory, make_extension

pytestmark = pytest.mark.django_db


def test_group_keeps_the_order_of_its_hotlines():
    tenant = TenantFactory()
    h1, h2, h3 = (HotlineFactory(tenant=tenant) for _ in range(3))
    group = number_group_create(tenant=tenant, name="Gọi ra", strategy="first", hotlines=[h3, h1, h2])
    assert [m.hotline for m in group.members.order_by("position")] == [h3, h1, h2]
    number_group_update(group=group, hotlines=[h2, h3])
    assert [m.hotline for m in group.members.order_by("position")] == [h2, h3]


def test_group_names_are_unique_per_tenant_ignoring_case():
    tenant = TenantFactory()
    number_group_create(tenant=tenant, name="Sales", strategy="first", hotlines=[])
    with pytest.raises(ValidationError):
        number_group_create(tenant=tenant, name="sales", strategy="first", hotlines=[])
    number_group_create(tenant=TenantFactory(), name="Sales", strategy="first", hotlines=[])


def test_group_refuses_another_tenants_hotline():
    tenant = TenantFactory()
    with pytest.raises(ValidationError) as err:
        number_group_create(
            tenant=tenant, name="X", strategy="first", hotlines=[HotlineFactory(tenant=TenantFactory())]
        )
    assert "hotlines" in err.value.message_dict


def test_group_refuses_an_unknown_strategy():
    with pytest.raises(ValidationError) as err:
        number_group_create(tenant=TenantFactory(), name="X", strategy="cheapest", hotlines=[])
    assert "strategy" in err.value.message_dict


def test_deleting_a_group_leaves_its_extensions():
    tenant = TenantFactory()
    hotline = HotlineFactory(tenant=tenant)
    group = number_group_create(tenant=tenant, name="X", strategy="first", hotlines=[hotline])
    ext = make_extension(hotline, "101", outbound_groups=[group])
    number_group_delete(group=group)
    ext.refresh_from_db()
    assert list(ext.outbound_groups.all()) == []


# -- Hotlines -------------------------------------------------------------------------------------


def _events(hotline) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="hotlines.hotline", object_id=str(hotline.pk)).order_by("id")
    )


def test_creating_a_hotline_is_audited_and_announced_after_the_commit(
    hotline_signals, django_capture_on_commit_callbacks
):
    tenant = TenantFactory()
    with django_capture_on_commit_callbacks(execute=True):
        hotline = hotline_create(tenant=tenant, number="1900 6001", name=" Tổng đài ")
        assert hotline_signals == []  # nothing before the commit

    assert (hotline.number, hotline.name, hotline.sip_domain) == (
        "19006001",
        "Tổng đài",
        "19006001.sip.example.vn",
    )
    [event] = _events(hotline)
    assert (event.action, event.tenant_id) == (Action.CREATE, tenant.pk)
    assert event.changes["number"] == [None, "19006001"]
    assert hotline_signals == [
        {"hotline_ids": [hotline.pk], "action": "create", "moved_from_tenant_id": None}
    ]


def test_a_refused_hotline_writes_nothing_and_announces_nothing(
    hotline_signals, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as err:
        hotline_create(tenant=TenantFactory(), number="12345")
    assert "number" in err.value.message_dict
    assert not AuditEvent.objects.exists()
    assert hotline_signals == []


def test_updating_a_hotline_audits_what_changed(hotline_signals, django_capture_on_commit_callbacks):
    hotline = HotlineFactory(name="Old")
    # The Django admin hands over an instance that already holds the new values: the "before"
    # of the audit row must come from the database.
    hotline.name = "New"
    with django_capture_on_commit_callbacks(execute=True):
        hotline_update(hotline=hotline, name="New", enabled=False)

    [event] = _events(hotline)
    assert event.action == Action.UPDATE
    assert event.changes == {"name": ["Old", "New"], "enabled": [True, False]}
    assert hotline_signals == [
        {"hotline_ids": [hotline.pk], "action": "update", "moved_from_tenant_id": None}
    ]


def test_an_update_that_changes_nothing_writes_and_announces_nothing(
    hotline_signals, django_capture_on_commit_callbacks
):
    hotline = HotlineFactory()
    with django_capture_on_commit_callbacks(execute=True):
        hotline_update(hotline=hotline, number=hotline.display_number, name=hotline.name)
    assert _events(hotline) == []
    assert hotline_signals == []


def test_moving_a_free_hotline_is_audited_for_both_tenants(
    hotline_signals, django_capture_on_commit_callbacks
):
    old, new = TenantFactory(), TenantFactory()
    hotline = HotlineFactory(tenant=old)
    with django_capture_on_commit_callbacks(execute=True):
        hotline_update(hotline=hotline, tenant=new)

    hotline.refresh_from_db()
    assert hotline.tenant == new
    assert sorted(e.tenant_id for e in _events(hotline)) == sorted([old.pk, new.pk])
    assert all(e.changes == {"tenant": [old.pk, new.pk]} for e in _events(hotline))
    assert hotline_signals == [
        {"hotline_ids": [hotline.pk], "action": "update", "moved_from_tenant_id": old.pk}
    ]


def test_a_hotline_in_use_cannot_move_and_the_message_says_what_to_detach(world):
    # hotline_a has extensions; hotline_a2 has none, but is in a group and another's caller ID.
    number_group_update(group=world.group_a, hotlines=[world.hotline_a2])
    ext = world.ext_a["102"]
    ext.outbound_hotlines.add(world.hotline_a2)

    with pytest.raises(ValidationError) as err:
        hotline_update(hotline=world.hotline_a, tenant=world.tenant_b)
    assert "3 extensions on it" in err.value.message_dict["tenant"][0]

    with pytest.raises(ValidationError) as err:
        hotline_update(hotline=world.hotline_a2, tenant=world.tenant_b)
    [message] = err.value.message_dict["tenant"]
    assert "cannot move to another tenant" in message
    assert "number group “Group A”" in message
    assert "caller ID of 1 other extension" in message

    for hotline in (world.hotline_a, world.hotline_a2):
        hotline.refresh_from_db()
        assert hotline.tenant == world.tenant_a
        assert _events(hotline) == []


def test_the_number_of_a_hotline_with_extensions_cannot_change(world):
    """Its extensions' SIP domain, and their password digests, come from the number."""
    with pytest.raises(ValidationError) as err:
        hotline_update(hotline=world.hotline_a, number="1900 7777")
    assert "number cannot change" in err.value.message_dict["number"][0]
    # Another spelling of the same number is no change; a hotline without extensions may change.
    world.hotline_a.refresh_from_db()
    hotline_update(hotline=world.hotline_a, number=world.hotline_a.display_number)
    hotline_update(hotline=world.hotline_a2, number="1900 7777")
    world.hotline_a2.refresh_from_db()
    assert world.hotline_a2.sip_domain == "19007777.sip.example.vn"


def test_a_hotline_in_use_cannot_be_deleted(world):
    with pytest.raises(ValidationError) as err:
        hotline_delete(hotline=world.hotline_a)
    assert "cannot be deleted: 3 extensions on it" in err.value.messages[0]
    assert Hotline.objects.filter(pk=world.hotline_a.pk).exists()


def test_deleting_a_free_hotline_is_audited_and_announced(
    world, hotline_signals, django_capture_on_commit_callbacks
):
    pk = world.hotline_b2.pk
    with django_capture_on_commit_callbacks(execute=True):
        hotline_delete(hotline=world.hotline_b2)

    assert not Hotline.objects.filter(pk=pk).exists()
    event = AuditEvent.objects.get(object_type="hotlines.hotline", object_id=str(pk))
    assert (event.action, event.tenant_id) == (Action.DELETE, world.tenant_b.pk)
    assert hotline_signals == [{"hotline_ids": [pk], "action": "delete", "moved_from_tenant_id": None}]


# -- Number groups: the admin's instance holds the new values before the service runs. -------------


def test_group_update_audits_against_the_stored_group():
    tenant = TenantFactory()
    hotline = HotlineFactory(tenant=tenant)
    group = number_group_create(tenant=tenant, name="Old", strategy="first", hotlines=[])
    group.name = "New"

    number_group_update(group=group, name="New", hotlines=[hotline])

    event = AuditEvent.objects.filter(object_type="hotlines.numbergroup", action=Action.UPDATE).get()
    assert event.changes == {"name": ["Old", "New"], "hotlines": [[], [hotline.number]]}


def test_group_cannot_move_to_another_tenant(world):
    world.group_a.tenant = world.tenant_b
    with pytest.raises(ValidationError) as err:
        number_group_update(group=world.group_a, name="Moved")
    assert "tenant" in err.value.message_dict
    assert NumberGroup.objects.get(pk=world.group_a.pk).tenant == world.tenant_a
