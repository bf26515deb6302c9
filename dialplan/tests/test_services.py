"""Dial rule writes (audited, Kamailio reloaded after commit) and the dial check's decisions."""

import datetime as dt
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from dialplan.choices import DestinationClass, Outcome, RuleStage
from dialplan.models import DialRule
from dialplan.services import (
    dial_rule_create,
    dial_rule_delete,
    dial_rule_update,
)
from dialplan.validators import clean_dialled
from extensions.choices import CallPermission
from extensions.services import extension_update
from hotlines.choices import Carrier, GroupStrategy
from hotlines.schedules import TIME_ZONE
from hotlines.services import number_group_create
from sip.dialcheck import dial_check
from tests.factories import HotlineFactory, make_extension

RELOAD = "sip.signals.sip_dialplan_reload"  # the receiver of dial_rules_changed


# --- Dial rule writes --------------------------------------------------------------------------


def test_create_update_delete_audit_and_reload_kamailio_after_commit(
    vn_rules, django_capture_on_commit_callbacks
):
    with mock.patch(RELOAD) as reload, django_capture_on_commit_callbacks(execute=True):
        rule = dial_rule_create(
            name="premium-block",
            stage=RuleStage.CLASSIFY,
            priority=35,
            pattern=r"^1900",
            destination=DestinationClass.INTERNATIONAL,
        )
    assert reload.call_count == 1

    with mock.patch(RELOAD) as reload, django_capture_on_commit_callbacks(execute=True):
        dial_rule_update(rule=rule, data={"enabled": False, "description": "off"})
        dial_rule_delete(rule=rule)
    assert reload.call_count == 2

    events = AuditEvent.objects.filter(object_type="dialplan.dialrule").order_by("id")
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert events[1].changes == {"description": ["", "off"], "enabled": [True, False]}


def test_an_invalid_rule_is_refused_and_nothing_is_reloaded(vn_rules, django_capture_on_commit_callbacks):
    with (
        mock.patch(RELOAD) as reload,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ValidationError) as error,
    ):
        dial_rule_create(
            name="bad",
            stage=RuleStage.CLASSIFY,
            priority=36,
            pattern=r"^(?<=1)900",
            destination=DestinationClass.PREMIUM,
        )
    assert "pattern" in error.value.message_dict
    assert reload.call_count == 0
    assert not DialRule.objects.filter(name="bad").exists()


def test_a_taken_priority_is_a_field_error(vn_rules):
    with pytest.raises(ValidationError) as error:
        dial_rule_update(
            rule=DialRule.objects.get(name="premium"),
            data={"priority": DialRule.objects.get(name="landline").priority},
        )
    assert list(error.value.message_dict) == ["priority"]


# --- The dial check ---------------------------------------------------------------------------


@pytest.fixture
def hotline(db):
    return HotlineFactory(number="19001234", carrier=Carrier.VIETTEL)


@pytest.fixture
def caller(hotline):
    return make_extension(hotline, "101", "sale01", call_permission=CallPermission.MOBILE)


def test_clean_dialled_drops_what_people_type_between_digits():
    assert clean_dialled(" 0912 345.678 ") == "0912345678"
    assert clean_dialled("(024) 7300-1234") == "02473001234"
    assert clean_dialled("+84 912 345 678") == "+84912345678"


@pytest.mark.parametrize(
    ("dialled", "outcome", "reply"),
    [
        ("0912345678", Outcome.GATEWAY, ""),
        ("+84912345678", Outcome.GATEWAY, ""),
        ("19001234", Outcome.GATEWAY, ""),
        ("02473001234", Outcome.GATEWAY, ""),
        ("115", Outcome.GATEWAY, ""),
        ("0012025550100", Outcome.DENIED, "403 Call permission: international required"),
        ("999", Outcome.NOT_FOUND, "404 No such extension"),
        ("12345678901", Outcome.NOT_FOUND, "404 No dial rule for this number"),
        ("*33102", Outcome.DENIED, "403 Not the supervisor"),
    ],
)
def test_decisions_for_a_mobile_extension(vn_rules, caller, dialled, outcome, reply):
    check = dial_check(extension=caller, dialled=dialled)
    assert (check.outcome, check.sip_reply) == (outcome, reply)
    assert check.allowed == (outcome == Outcome.GATEWAY)
    assert check.reason


def test_each_level_includes_the_ones_before(vn_rules, hotline):
    numbers = {
        "102": "internal",
        "02473001234": "landline",
        "18001234": "toll_free",
        "0912345678": "mobile",
        "19001234": "premium",
        "0012025550100": "international",
    }
    make_extension(hotline, "102", "kd01")
    allowed = {}
    for level in CallPermission:
        extension = make_extension(hotline, str(200 + level), f"lvl{level}", call_permission=level)
        allowed[level.slug] = sorted(
            destination
            for number, destination in numbers.items()
            if dial_check(extension=extension, dialled=number).allowed
        )
    assert allowed == {
        "internal": ["internal"],
        "landline": ["internal", "landline", "toll_free"],
        "mobile": ["internal", "landline", "mobile", "premium", "toll_free"],
        "international": ["internal", "international", "landline", "mobile", "premium", "toll_free"],
    }


def test_an_internal_call_names_its_extension(vn_rules, caller, hotline):
    make_extension(hotline, "102", "kd01")
    check = dial_check(extension=caller, dialled="102")
    assert (check.outcome, check.target, check.caller_id) == (Outcome.EXTENSION, "102", None)


def test_a_disabled_extension_is_refused(vn_rules, caller, hotline):
    caller = extension_update(extension=caller, data={"enabled": False})
    assert dial_check(extension=caller, dialled="115").outcome == Outcome.DENIED


def test_supervision_needs_the_supervisor(vn_rules, hotline):
    boss = make_extension(hotline, "100", "boss", call_permission=CallPermission.INTERNAL)
    agent = make_extension(hotline, "101", "sale01", supervisor=boss)
    check = dial_check(extension=boss, dialled="*33101")
    assert (check.outcome, check.supervise_mode, check.target) == (Outcome.MEDIA_SERVER, "listen", "101")
    assert check.allowed and check.sip_reply == ""
    check = dial_check(extension=boss, dialled="*34101")
    assert (check.outcome, check.supervise_mode, check.target) == (Outcome.NOT_AVAILABLE, "whisper", "101")
    assert (check.allowed, check.sip_reply) == (False, "501 Whisper needs audio mixing, not available")
    assert dial_check(extension=agent, dialled="*34100").outcome == Outcome.DENIED
    # A disabled agent has no call to listen to.
    extension_update(extension=agent, data={"enabled": False})
    assert dial_check(extension=boss, dialled="*33101").outcome == Outcome.DENIED


# --- The caller-ID pool (the sip_caller_id view, read by Kamailio and the dial check) ---------


@pytest.fixture
def numbers(hotline):
    tenant = hotline.tenant
    return {
        "viettel": HotlineFactory(tenant=tenant, number="0981111111"),
        "vinaphone": HotlineFactory(tenant=tenant, number="0912222222"),
        "mobifone": HotlineFactory(tenant=tenant, number="0903333333"),
        "landline": HotlineFactory(tenant=tenant, number="02473001234", carrier=Carrier.VNPT),
    }


def pool_of(extension, callee="0961234567"):
    return dial_check(extension=extension, dialled=callee).caller_id


def test_no_pool_means_the_own_hotline(vn_rules, caller):
    assert pool_of(caller).pool == ("19001234",)
    assert pool_of(caller).number == "19001234"


def test_pool_order_direct_hotlines_then_groups_by_name_then_members_by_position(vn_rules, caller, numbers):
    tenant = caller.hotline.tenant
    b = number_group_create(
        tenant=tenant,
        name="B group",
        strategy=GroupStrategy.ROUND_ROBIN,
        hotlines=[numbers["mobifone"], numbers["viettel"]],
    )
    a = number_group_create(
        tenant=tenant,
        name="A group",
        strategy=GroupStrategy.FIRST,
        hotlines=[numbers["vinaphone"], numbers["mobifone"]],
    )
    caller = extension_update(
        extension=caller, data={"outbound_groups": [b, a], "outbound_hotlines": [numbers["landline"]]}
    )

    choice = pool_of(caller)
    # Each hotline once, where it first appears; the strategy is the first group's (A: first).
    assert choice.pool == ("02473001234", "0912222222", "0903333333", "0981111111")
    assert (choice.strategy, choice.number) == ("first", "02473001234")


def test_direct_hotlines_alone_rotate(vn_rules, caller, numbers):
    caller = extension_update(
        extension=caller, data={"outbound_hotlines": [numbers["viettel"], numbers["vinaphone"]]}
    )
    choice = pool_of(caller)
    assert (choice.strategy, choice.number) == ("round_robin", None)
    assert choice.candidates == ("0912222222", "0981111111")


def test_disabled_hotlines_leave_the_pool_and_an_empty_pool_falls_back(vn_rules, caller, numbers):
    group = number_group_create(
        tenant=caller.hotline.tenant,
        name="G",
        strategy=GroupStrategy.SAME_CARRIER,
        hotlines=[numbers["viettel"], numbers["vinaphone"]],
    )
    caller = extension_update(extension=caller, data={"outbound_groups": [group]})
    assert pool_of(caller).number == "0981111111"  # Viettel callee, Viettel number

    numbers["viettel"].enabled = False
    numbers["viettel"].save(update_fields=["enabled"])
    assert pool_of(caller).pool == ("0912222222",)

    numbers["vinaphone"].enabled = False
    numbers["vinaphone"].save(update_fields=["enabled"])
    assert pool_of(caller).pool == ("19001234",)


def test_same_carrier_uses_the_carrier_of_the_callees_rule(vn_rules, caller, numbers):
    group = number_group_create(
        tenant=caller.hotline.tenant,
        name="G",
        strategy=GroupStrategy.SAME_CARRIER,
        hotlines=[numbers["viettel"], numbers["vinaphone"], numbers["mobifone"]],
    )
    caller = extension_update(extension=caller, data={"outbound_groups": [group]})
    assert pool_of(caller, "+84941234567").number == "0912222222"
    assert pool_of(caller, "0771234567").number == "0903333333"
    assert pool_of(caller, "0521234567").number is None  # Vietnamobile: none in the pool
    assert pool_of(caller, "02838123456").number is None  # a landline: no carrier in its rule


@pytest.mark.parametrize(
    "moment",
    [dt.datetime(9999, 12, 31, 20, tzinfo=TIME_ZONE), dt.datetime(1, 1, 1, tzinfo=dt.UTC)],
)
def test_a_check_outside_the_years_schedules_are_asked_about_is_refused_on_at(vn_rules, caller, moment):
    """Not an OverflowError in the schedule's arithmetic, whoever calls the service."""
    with pytest.raises(ValidationError) as refused:
        dial_check(extension=caller, dialled="0912345678", at=moment)
    assert refused.value.message_dict == {"at": ["Choose a moment from the year 2000 to 2999."]}
