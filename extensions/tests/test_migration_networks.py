"""Migration extensions.0011: allowed networks stored before they were kept canonical."""

import importlib

import pytest
from django.apps import apps

from extensions.models import Extension
from tests.factories import HotlineFactory, make_extension

migration = importlib.import_module("extensions.migrations.0011_canonical_allowed_networks")


@pytest.mark.django_db
def test_stored_networks_become_canonical_and_bad_ones_stay():
    hotline = HotlineFactory.create()
    typed, bad, fine, anywhere = (make_extension(hotline, n) for n in ("101", "102", "103", "104"))
    rows = {
        typed.pk: ["192.0.2.0/255.255.255.0", "10.1.2.3", "2001:DB8::/32", "10.1.2.3/32"],
        bad.pk: ["10.0.0.1/8", "192.0.2.0/24"],
        fine.pk: ["198.51.100.0/24"],
    }
    for pk, networks in rows.items():  # as stored before: no validation on the way in
        Extension.objects.filter(pk=pk).update(allowed_networks=networks)

    migration.forwards(apps, None)

    stored = dict(Extension.objects.values_list("pk", "allowed_networks"))
    assert stored[typed.pk] == ["192.0.2.0/24", "10.1.2.3/32", "2001:db8::/32"]
    assert stored[bad.pk] == ["10.0.0.1/8", "192.0.2.0/24"]
    assert stored[fine.pk] == ["198.51.100.0/24"]
    assert stored[anywhere.pk] == []
