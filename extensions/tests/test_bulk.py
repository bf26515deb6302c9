"""Bulk services: range create, bulk edit, bulk password regeneration."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.choices import Action
from audit.models import AuditEvent
from extensions.choices import CallPermission
from extensions.models import Extension
from extensions.passwords import digest_ha1
from extensions.services.bulk import (
    MAX_BATCH,
    extension_bulk_regenerate_passwords,
    extension_bulk_update,
    extension_range_create,
    preview_bulk_update,
)
from tests.factories import HotlineFactory, NumberGroupFactory, make_extension

pytestmark = pytest.mark.django_db


def extension_audits(action):
    return AuditEvent.objects.filter(action=action, object_type="extensions.extension")


# --- range create -------------------------------------------------------------------------------


def test_range_create_makes_every_number_with_shared_settings(world):
    hotline = world.hotline_a
    supervisor = world.ext_a["100"]
    created = extension_range_create(
        hotline=hotline,
        first="200",
        last="249",
        alias_pattern="sale{n}",
        call_permission=CallPermission.LANDLINE,
        supervisor=supervisor,
        outbound_hotlines=[world.hotline_a2],
        outbound_groups=[world.group_a],
        description="Phòng kinh doanh",
    )
    assert [e.number for e in created] == [str(n) for n in range(200, 250)]
    stored = Extension.objects.filter(hotline=hotline, number__gte="200").order_by("number")
    assert stored.count() == 50
    ext = stored.get(number="237")
    assert ext.alias == "sale237"
    assert ext.call_permission == CallPermission.LANDLINE
    assert ext.supervisor == supervisor
    assert ext.description == "Phòng kinh doanh"
    assert list(ext.outbound_hotlines.all()) == [world.hotline_a2]
    assert list(ext.outbound_groups.all()) == [world.group_a]
    # Each has its own generated password, stored encrypted and as digests.
    password = ext.get_sip_password()
    assert len(password) >= 16
    assert ext.ha1 == digest_ha1("237", hotline.sip_domain, password)
    assert len({e.get_sip_password() for e in stored}) == 50
    # One audit record per extension, like extension_create's.
    audits = extension_audits(Action.CREATE).filter(object_id__in=[str(e.pk) for e in stored])
    assert audits.count() == 50
    assert audits.get(object_id=str(ext.pk)).changes["alias"] == [None, "sale237"]
    assert audits.get(object_id=str(ext.pk)).changes["password"] == ["••••••", "••••••"]


def test_range_create_writes_in_a_constant_number_of_queries(world):
    def queries(first, last):
        with CaptureQueriesContext(connection) as ctx:
            extension_range_create(
                hotline=world.hotline_a,
                first=first,
                last=last,
                alias_pattern="r{n}",
                outbound_groups=[world.group_a],
            )
        return len(ctx.captured_queries)

    assert queries("300", "304") == queries("400", "699")


def test_range_create_reports_every_clashing_number_and_writes_nothing(world):
    hotline = world.hotline_a
    make_extension(hotline, "205", "other205")
    make_extension(hotline, "900", "sale207")  # takes the alias 207 would get
    before = Extension.objects.count()
    with pytest.raises(ValidationError) as err:
        extension_range_create(hotline=hotline, first="200", last="209", alias_pattern="sale{n}")
    errors = err.value.message_dict
    assert set(errors) == {"205", "207"}
    assert "already exists" in errors["205"][0]
    assert "sale207" in errors["207"][0] and "already used" in errors["207"][0]
    assert Extension.objects.count() == before


def test_range_create_checks_the_batch_with_one_query_for_clashes(world):
    with CaptureQueriesContext(connection) as ctx, pytest.raises(ValidationError):
        extension_range_create(hotline=world.hotline_a, first="100", last="199", alias_pattern="x{n}")
    # The savepoint and the one SELECT; nothing per number.
    selects = [q for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 1


@pytest.mark.parametrize(
    "kwargs, key, fragment",
    [
        ({"first": "100", "last": str(100 + MAX_BATCH)}, "last", "at most 1000"),
        ({"first": "150", "last": "140"}, "last", "smaller"),
        ({"first": "1", "last": "20"}, "first", "2 to 6 digits"),
        ({"alias_pattern": "sale"}, "alias_pattern", "{n}"),
        ({"alias_pattern": "bán{n}"}, "500", "diacritics"),
        ({"alias_pattern": "sale {n}"}, "500", "spaces"),
    ],
)
def test_range_create_refuses_bad_requests_clearly(world, kwargs, key, fragment):
    args = {"hotline": world.hotline_a, "first": "500", "last": "510", "alias_pattern": "s{n}", **kwargs}
    with pytest.raises(ValidationError) as err:
        extension_range_create(**args)
    assert any(fragment in message for message in err.value.message_dict[key]), err.value.message_dict
    assert not Extension.objects.filter(hotline=world.hotline_a, number__startswith="5").exists()


def test_range_create_reuses_the_supervisor_and_caller_id_rules(world):
    with pytest.raises(ValidationError) as err:
        extension_range_create(
            hotline=world.hotline_a,
            first="500",
            last="502",
            alias_pattern="s{n}",
            supervisor=make_extension(world.hotline_a2, "100"),
            outbound_groups=[world.group_b],
        )
    errors = err.value.message_dict
    assert "same hotline" in errors["supervisor"][0]  # said once, not per number
    assert "another customer" in errors["outbound_groups"][0]


def test_range_keeps_leading_zeros_of_same_width_bounds():
    hotline = HotlineFactory()
    created = extension_range_create(hotline=hotline, first="098", last="101", alias_pattern="a{n}")
    assert [e.number for e in created] == ["098", "099", "100", "101"]


# --- bulk edit ----------------------------------------------------------------------------------


def test_bulk_update_changes_every_selected_extension_with_one_audit_each(world):
    exts = [world.ext_a["101"], world.ext_a["102"]]
    group = NumberGroupFactory(tenant=world.tenant_a, name="Sales")
    changed = extension_bulk_update(
        extensions=exts,
        data={
            "call_permission": CallPermission.INTERNATIONAL,
            "supervisor": world.ext_a["100"],
            "outbound_groups": [group],
            "enabled": False,
        },
    )
    assert {e.number for e in changed} == {"101", "102"}
    for ext in exts:
        ext.refresh_from_db()
        assert ext.call_permission == CallPermission.INTERNATIONAL
        assert ext.supervisor_id == world.ext_a["100"].pk
        assert list(ext.outbound_groups.all()) == [group]
        assert ext.enabled is False
        assert ext.version == 2
    audit = extension_audits(Action.UPDATE).get(object_id=str(world.ext_a["102"].pk))
    assert audit.changes["supervisor"] == [None, "100"]  # the number, not the id
    assert audit.changes["enabled"] == [True, False]
    # 101 already had 100 as supervisor: its record says only what changed.
    audit101 = extension_audits(Action.UPDATE).get(object_id=str(world.ext_a["101"].pk))
    assert "supervisor" not in audit101.changes


def test_bulk_update_refuses_a_supervision_cycle_and_self_supervision(world):
    e100, e101, e102 = (world.ext_a[n] for n in ("100", "101", "102"))  # 101 → 100
    with pytest.raises(ValidationError) as err:
        extension_bulk_update(extensions=[e100, e102], data={"supervisor": e101})
    errors = err.value.message_dict
    assert "cycle (100 → 101 → 100)" in errors["100"][0]
    with pytest.raises(ValidationError) as err:
        extension_bulk_update(extensions=[e101, e102], data={"supervisor": e102})
    assert "itself" in err.value.message_dict["102"][0]
    e100.refresh_from_db()
    e102.refresh_from_db()
    assert e100.supervisor_id is None and e102.supervisor_id is None
    assert not extension_audits(Action.UPDATE).exists()


def test_bulk_update_refuses_a_supervisor_of_another_hotline(world):
    other = make_extension(world.hotline_a2, "300")
    with pytest.raises(ValidationError) as err:
        extension_bulk_update(extensions=[world.ext_a["102"]], data={"supervisor": other})
    assert "same hotline" in err.value.message_dict["102"][0]


def test_preview_lists_changes_in_readable_terms_and_writes_nothing(world):
    plan = preview_bulk_update(
        extensions=[world.ext_a["101"], world.ext_a["102"]],
        data={"supervisor": world.ext_a["100"], "enabled": False},
    )
    by_number = {ext.number: changes for ext, changes in plan}
    assert by_number["102"]["Supervisor extension"] == ["—", "100"]
    assert by_number["101"]["Enabled"] == ["Yes", "No"]
    assert Extension.objects.get(pk=world.ext_a["102"].pk).supervisor_id is None


def test_bulk_update_caps_the_selection():
    with pytest.raises(ValidationError):
        extension_bulk_update(extensions=[], data={"enabled": False})


# --- bulk password regeneration -------------------------------------------------------------------


def test_bulk_regenerate_gives_each_a_new_password_and_audits_each(world):
    exts = [world.ext_a["100"], world.ext_a["102"]]
    old = {e.pk: e.get_sip_password() for e in exts}
    result = extension_bulk_regenerate_passwords(extensions=exts)
    for ext, password in result:
        stored = Extension.objects.get(pk=ext.pk)
        assert stored.get_sip_password() == password != old[ext.pk]
        assert stored.ha1 == digest_ha1(ext.number, ext.hotline.sip_domain, password)
        assert stored.version == 2
    assert extension_audits(Action.ROTATE_PASSWORD).count() == 2
    assert not extension_audits(Action.REVEAL).exists()


def test_bulk_regenerate_for_a_user_goes_through_the_reveal_guard(world, client):
    from core.guard import ReauthenticationRequired

    session = client.session  # no recent sign-in recorded
    with pytest.raises(ReauthenticationRequired):
        extension_bulk_regenerate_passwords(
            extensions=[world.ext_a["100"]], user=world.admin_a, session=session
        )
    assert not extension_audits(Action.ROTATE_PASSWORD).exists()
    extension_bulk_regenerate_passwords(extensions=[world.ext_a["100"]], user=world.admin_a)
    assert extension_audits(Action.REVEAL).get().actor == world.admin_a
