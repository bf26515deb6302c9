"""factory_boy factories shared by every app's tests; writes go through the real services."""

import itertools

import factory
from django.contrib.auth import get_user_model

from extensions.choices import CallPermission
from extensions.services import extension_create
from hotlines.models import Hotline, NumberGroup
from tenants.choices import Role
from tenants.models import Membership, Tenant

_hotline_numbers = itertools.count(1000)


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Role.ADMIN


class HotlineFactory(factory.django.DjangoModelFactory):
    """A 1900 hotline with a fresh number (19001000, 19001001, …), normalised by clean()."""

    class Meta:
        model = Hotline

    tenant = factory.SubFactory(TenantFactory)
    number = factory.LazyFunction(lambda: f"1900{next(_hotline_numbers):04d}")
    name = factory.Sequence(lambda n: f"Hotline {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        hotline = model_class(*args, **kwargs)
        hotline.full_clean()
        hotline.save()
        return hotline


class NumberGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NumberGroup

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Group {n}")


def make_extension(hotline, number="100", alias=None, **kwargs):
    """An extension created through extension_create (so it has real credentials)."""
    kwargs.setdefault("call_permission", CallPermission.MOBILE)
    return extension_create(hotline=hotline, number=number, alias=alias or f"ext{number}", **kwargs)


def make_admin(tenant, username=None):
    user = UserFactory(username=username or f"admin-{tenant.slug}")
    MembershipFactory(user=user, tenant=tenant, role=Role.ADMIN)
    return user


def make_agent(tenant, extension, username=None):
    user = UserFactory(username=username or f"agent-{tenant.slug}-{extension.number}")
    MembershipFactory(user=user, tenant=tenant, role=Role.AGENT, extension=extension)
    return user
