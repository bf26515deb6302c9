"""Calls through a real Kamailio: the call permission, caller ID and supervisor the dashboard
sets are what the SIP server enforces, from the very next INVITE."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError

from dialplan.choices import DestinationClass, Outcome, RuleStage
from dialplan.models import DialRule
from dialplan.services import dial_rule_create, dial_rule_update
from extensions.choices import CallPermission
from extensions.credentials import LoginInfo
from extensions.services import extension_reveal_credentials, extension_update
from hotlines.choices import Carrier, GroupStrategy
from hotlines.services import number_group_create, number_group_update
from sip.dialcheck import dial_check
from sip.kamailio import host_port
from sip.services import sip_dialplan_reload, sip_registrations_remove
from sip.sipclient import Call, SipClient
from tests.factories import HotlineFactory, make_extension

from .uas import response_for

pytestmark = pytest.mark.sip


def call(
    info: LoginInfo,
    number: str,
    *,
    transport: str = "udp",
    password: str | None = None,
    client: SipClient | None = None,
    hangup: bool = True,
) -> Call:
    """INVITE `number` as a softphone with this login info would (digest proxy auth)."""
    host, port = host_port(info.proxy, 5060)
    if client is not None:
        return client.invite(
            number=number,
            domain=info.domain,
            username=info.username,
            password=password or info.password,
            hangup=hangup,
        )
    with SipClient(host, port, transport=transport) as phone:
        return phone.invite(
            number=number,
            domain=info.domain,
            username=info.username,
            password=password or info.password,
            hangup=hangup,
        )


def register(info: LoginInfo, phone: SipClient) -> None:
    response = phone.register(username=info.username, domain=info.domain, password=info.password)
    assert response.status == 200


@pytest.fixture
def hotline(kamailio):
    hotline = HotlineFactory(number="19001234", carrier=Carrier.VIETTEL)
    kamailio.reload_domains()
    return hotline


@pytest.fixture
def caller(hotline):
    return make_extension(hotline, "101", "sale01", call_permission=CallPermission.MOBILE)


def login(extension) -> LoginInfo:
    return extension_reveal_credentials(extension=extension)


# --- Call permission -------------------------------------------------------------------------


def test_allowed_number_reaches_the_gateway_normalised(kamailio, dial_rules, gateway, caller):
    result = call(login(caller), "+84912345678")

    assert result.status == 486  # the gateway's answer, relayed
    [invite] = gateway.invites
    assert invite.user == "0912345678"
    assert invite.params("x-pbx-dial") == {
        "number": "0912345678",
        "rule": "mobile-vinaphone",
        "class": "mobile",
    }


def test_number_above_the_permission_is_refused_with_the_level_it_needs(
    kamailio, dial_rules, gateway, caller
):
    result = call(login(caller), "0012025550100")

    assert (result.status, result.response.reason) == (403, "Call permission: international required")
    assert gateway.invites == []
    check = dial_check(extension=caller, dialled="0012025550100")
    assert check.outcome == Outcome.DENIED
    assert check.sip_reply == "403 Call permission: international required"


def test_emergency_is_allowed_even_for_internal_only(kamailio, dial_rules, gateway, hotline):
    internal_only = make_extension(hotline, "102", "kd01", call_permission=CallPermission.INTERNAL)

    assert call(login(internal_only), "0912345678").status == 403
    assert call(login(internal_only), "115").status == 486
    assert [i.user for i in gateway.invites] == ["115"]


def test_wrong_password_or_no_credentials_cannot_call(kamailio, dial_rules, gateway, caller):
    info = login(caller)
    assert call(info, "0912345678", password="Wrong-password-123").status == 403
    host, port = host_port(info.proxy, 5060)
    with SipClient(host, port) as phone:
        challenged = phone.invite(number="0912345678", domain=info.domain, username="101")
    assert challenged.status == 407
    assert gateway.invites == []


def test_unknown_number_is_404(kamailio, dial_rules, gateway, caller):
    result = call(login(caller), "12345678901234")
    assert (result.status, result.response.reason) == (404, "No dial rule for this number")


def test_answered_call_is_acknowledged_and_hung_up_through_the_proxy(kamailio, dial_rules, gateway, caller):
    gateway.answer = 200

    result = call(login(caller), "0912345678")

    assert result.status == 200
    assert result.route_set and f":{kamailio.config.sip_port}" in result.route_set[0]
    assert len(gateway.wait_for("ACK")) == 1
    [bye] = gateway.wait_for("BYE")
    assert bye.header("call-id") == gateway.invites[0].header("call-id")


# --- Caller ID -------------------------------------------------------------------------------


@pytest.fixture
def pool(hotline):
    """Three more hotlines of the same tenant: Viettel, VinaPhone and MobiFone mobiles."""
    return {
        "viettel": HotlineFactory(tenant=hotline.tenant, number="0981111111"),
        "vinaphone": HotlineFactory(tenant=hotline.tenant, number="0912222222"),
        "mobifone": HotlineFactory(tenant=hotline.tenant, number="0903333333"),
    }


def presented(gateway) -> list[str]:
    """The caller ID each INVITE showed the carrier: P-Asserted-Identity and From agree."""
    for invite in gateway.invites:
        assert invite.header_user("p-asserted-identity") == invite.header_user("from")
        assert '"' not in (invite.header("from") or "")  # no display name (the agent's alias)
    return [invite.header_user("p-asserted-identity") for invite in gateway.invites]


def test_without_a_pool_the_own_hotline_is_presented(kamailio, dial_rules, gateway, caller):
    call(login(caller), "0912345678")

    assert presented(gateway) == ["19001234"]
    assert dial_check(extension=caller, dialled="0912345678").caller_id.number == "19001234"


def test_same_carrier_presents_a_number_on_the_callees_carrier(kamailio, dial_rules, gateway, caller, pool):
    group = number_group_create(
        tenant=caller.hotline.tenant,
        name="Out",
        strategy=GroupStrategy.SAME_CARRIER,
        hotlines=[pool["viettel"], pool["vinaphone"], pool["mobifone"]],
    )
    caller = extension_update(extension=caller, data={"outbound_groups": [group]})
    info = login(caller)
    numbers = {"0961234567": "0981111111", "0941234567": "0912222222", "0771234567": "0903333333"}

    for callee in numbers:
        call(info, callee)

    assert presented(gateway) == list(numbers.values())
    for callee, caller_id in numbers.items():
        check = dial_check(extension=caller, dialled=callee)
        assert (check.caller_id.strategy, check.caller_id.number) == ("same_carrier", caller_id)


def test_same_carrier_without_a_match_falls_back_to_round_robin(kamailio, dial_rules, gateway, caller, pool):
    group = number_group_create(
        tenant=caller.hotline.tenant,
        name="Out",
        strategy=GroupStrategy.SAME_CARRIER,
        hotlines=[pool["viettel"], pool["vinaphone"]],
    )
    caller = extension_update(extension=caller, data={"outbound_groups": [group]})
    info = login(caller)

    for _ in range(4):
        call(info, "02473001234")  # a landline: no carrier in its dial rule

    shown = presented(gateway)
    assert shown[0] != shown[1] and shown[:2] == shown[2:]
    assert set(shown) == {"0981111111", "0912222222"}
    check = dial_check(extension=caller, dialled="02473001234")
    assert check.caller_id.number is None
    assert check.caller_id.candidates == ("0981111111", "0912222222")


def test_round_robin_takes_the_pool_in_turn(kamailio, dial_rules, gateway, caller, pool):
    group = number_group_create(
        tenant=caller.hotline.tenant,
        name="Out",
        strategy=GroupStrategy.ROUND_ROBIN,
        hotlines=[pool["vinaphone"], pool["mobifone"]],
    )
    caller = extension_update(
        extension=caller, data={"outbound_groups": [group], "outbound_hotlines": [pool["viettel"]]}
    )
    info = login(caller)

    for _ in range(6):
        call(info, "0961234567")

    shown = presented(gateway)
    # The direct hotline first, then the group's members in their order; then again.
    order = ["0981111111", "0912222222", "0903333333"]
    start = order.index(shown[0])
    assert shown == [order[(start + i) % 3] for i in range(6)]
    check = dial_check(extension=caller, dialled="0961234567")
    assert (check.caller_id.strategy, check.caller_id.candidates) == ("round_robin", tuple(order))


def test_first_always_presents_the_first_number(kamailio, dial_rules, gateway, caller, pool):
    group = number_group_create(
        tenant=caller.hotline.tenant,
        name="Out",
        strategy=GroupStrategy.FIRST,
        hotlines=[pool["mobifone"], pool["viettel"]],
    )
    caller = extension_update(extension=caller, data={"outbound_groups": [group]})

    for callee in ("0961234567", "0912345678", "02838123456"):
        call(login(caller), callee)

    assert presented(gateway) == ["0903333333"] * 3
    assert dial_check(extension=caller, dialled="0961234567").caller_id.number == "0903333333"


def test_random_presents_numbers_of_the_pool(kamailio, dial_rules, gateway, caller, pool):
    group = number_group_create(
        tenant=caller.hotline.tenant, name="Out", strategy=GroupStrategy.RANDOM, hotlines=list(pool.values())
    )
    caller = extension_update(extension=caller, data={"outbound_groups": [group]})
    info = login(caller)

    for _ in range(30):
        call(info, "0961234567")

    shown = presented(gateway)
    assert set(shown) <= {h.number for h in pool.values()}
    assert len(set(shown)) > 1  # 30 draws from 3 numbers: all the same has odds 3⁻²⁹
    check = dial_check(extension=caller, dialled="0961234567")
    assert check.caller_id.number is None and len(check.caller_id.candidates) == 3


# --- Changes in the dashboard take effect on the next call --------------------------------------


def test_permission_and_number_group_changes_apply_to_the_next_call(
    kamailio, dial_rules, gateway, caller, pool
):
    info = login(caller)
    assert call(info, "0012025550100").status == 403

    caller = extension_update(extension=caller, data={"call_permission": CallPermission.INTERNATIONAL})
    assert call(info, "0012025550100").status == 486
    assert presented(gateway) == ["19001234"]

    group = number_group_create(
        tenant=caller.hotline.tenant, name="Out", strategy=GroupStrategy.FIRST, hotlines=[pool["vinaphone"]]
    )
    caller = extension_update(extension=caller, data={"outbound_groups": [group]})
    call(info, "0012025550100")
    assert presented(gateway)[-1] == "0912222222"

    number_group_update(group=group, hotlines=[pool["mobifone"], pool["vinaphone"]])
    call(info, "0012025550100")
    assert presented(gateway)[-1] == "0903333333"

    caller = extension_update(extension=caller, data={"call_permission": CallPermission.LANDLINE})
    result = call(info, "0912345678")
    assert (result.status, result.response.reason) == (403, "Call permission: mobile required")
    assert call(info, "02473001234").status == 486


def test_disabled_extension_cannot_call(kamailio, dial_rules, gateway, caller):
    info = login(caller)
    extension_update(extension=caller, data={"enabled": False})

    assert call(info, "0912345678").status == 403
    assert gateway.invites == []


# --- Internal calls --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "ws"])
def test_internal_call_rings_the_registered_extension(
    kamailio, dial_rules, gateway, caller, hotline, transport
):
    callee = make_extension(hotline, "102", "kd01")
    info = login(callee)
    host, port = host_port(info.proxy, 5060)
    if transport == "ws":
        phone = SipClient(host, kamailio.config.ws_port, transport="ws", ws_path=kamailio.config.ws_path)
    else:
        phone = SipClient(host, port)
    with phone, ThreadPoolExecutor(max_workers=1) as pool:
        register(info, phone)
        try:
            assert call(login(caller), "999").status == 404  # no extension 999 on this hotline
            ringing = pool.submit(call, login(caller), "102")
            invite = phone.receive(timeout=3)
            phone.send(response_for(invite, 486))
            result = ringing.result(timeout=5)
        finally:
            # Kamailio keeps registrations in memory: sign out, or a later 102 rings here.
            assert sip_registrations_remove(extension=callee, config=kamailio.config)

    assert invite.startswith(b"INVITE sip:102@")
    assert f"From: <sip:101@{hotline.sip_domain}>".encode() in invite  # not rewritten inside
    assert result.status == 486
    assert gateway.invites == []
    assert dial_check(extension=caller, dialled="102").outcome == Outcome.EXTENSION


def test_internal_call_to_an_offline_extension_is_480(kamailio, dial_rules, caller, hotline):
    make_extension(hotline, "103", "kd03")
    assert call(login(caller), "103").status == 480


def test_extensions_of_another_hotline_are_not_internal(kamailio, dial_rules, caller):
    other = HotlineFactory(tenant=caller.hotline.tenant)
    make_extension(other, "102", "kd01")
    kamailio.reload_domains()
    assert call(login(caller), "102").status == 404
    assert dial_check(extension=caller, dialled="102").outcome == Outcome.NOT_FOUND


# --- Supervisor feature codes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reply"),
    [
        # To the listen service, which finds the agent in no call (a call heard: test_supervision).
        ("*33", "480 No call to listen to"),
        ("*34", "501 Whisper needs audio mixing, not available"),
        ("*35", "501 Barge needs audio mixing, not available"),
    ],
)
def test_supervisor_codes(kamailio, dial_rules, hotline, code, reply):
    supervisor = make_extension(hotline, "100", "boss", call_permission=CallPermission.INTERNAL)
    agent = make_extension(hotline, "101", "sale01", supervisor=supervisor)

    result = call(login(supervisor), f"{code}101")
    assert f"{result.status} {result.response.reason}" == reply
    assert dial_check(extension=supervisor, dialled=f"{code}101").sip_reply in (reply, "")

    # The agent may not listen to the supervisor, nor to itself.
    for target in ("100", "101"):
        result = call(login(agent), f"{code}{target}")
        assert (result.status, result.response.reason) == (403, "Not the supervisor")
        assert dial_check(extension=agent, dialled=f"{code}{target}").outcome == Outcome.DENIED


def test_supervisor_of_nobody_is_refused(kamailio, dial_rules, hotline):
    make_extension(hotline, "100", "boss")
    other = make_extension(hotline, "102", "kd01")
    result = call(login(other), "*33100")
    assert (result.status, result.response.reason) == (403, "Not the supervisor")


# --- Dial rules are data: an edit reaches Kamailio once committed ------------------------------


def test_dial_rule_changes_reach_kamailio_when_committed(kamailio, dial_rules, gateway, caller, monkeypatch):
    # The services reload Kamailio through the control socket `make sip` would use.
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(kamailio.config.runtime_dir))
    info = login(caller)
    assert call(info, "19001234").status == 486

    dial_rule_update(rule=DialRule.objects.get(name="premium"), data={"enabled": False})
    assert call(info, "19001234").status == 404

    dial_rule_create(
        name="premium-abroad",
        stage=RuleStage.CLASSIFY,
        priority=45,
        pattern=r"^1900[0-9]{4}$",
        destination=DestinationClass.INTERNATIONAL,
    )
    result = call(info, "19001234")
    assert (result.status, result.response.reason) == (403, "Call permission: international required")
    assert dial_check(extension=caller, dialled="19001234").rule.name == "premium-abroad"


def test_a_pattern_kamailio_cannot_compile_is_refused_before_it_gets_there(
    kamailio, dial_rules, gateway, caller
):
    landline = DialRule.objects.get(name="landline")
    with pytest.raises(ValidationError):
        dial_rule_update(rule=landline, data={"pattern": "^02([0-9]{9}$"})

    # Written behind Django's back, it fails Kamailio's reload, which keeps the rules it had
    # (a cold start would fail instead): that is why patterns are validated before saving.
    DialRule.objects.filter(pk=landline.pk).update(pattern="^02([0-9]{9}$")
    assert sip_dialplan_reload(config=kamailio.config) is False
    assert call(login(caller), "02473001234").status == 486
    assert gateway.invites[-1].params("x-pbx-dial")["rule"] == "landline"
