import pytest
from django.core.exceptions import ValidationError

from hotlines.services import number_group_create, number_group_delete, number_group_update
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
