"""Controls at the SIP server, with a real Kamailio: the outbound schedule, the calls per
minute and per day, the maximum call length and the caller-ID format are what the dashboard
sets, enforced on the very next call, and the dial check says the same."""

import datetime as dt
import time

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from dialplan.choices import Outcome
from extensions.choices import CallPermission
from extensions.services import extension_reveal_credentials, extension_update
from hotlines.choices import Carrier
from hotlines.schedules import TIME_ZONE, format_minute
from hotlines.services import hotline_set_outbound_schedule, schedule_create
from sip.call_records import call_records_import
from sip.choices import CallDirection, Disposition
from sip.controls import call_counters, call_limits_lift
from sip.dialcheck import dial_check
from sip.kamailio import host_port
from sip.models import Call
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, make_extension

from .uas import parse_request, response_for

pytestmark = pytest.mark.sip


@pytest.fixture
def hotline(kamailio):
    hotline = HotlineFactory(number="19001234", carrier=Carrier.VIETTEL)
    kamailio.reload_domains()
    return hotline


@pytest.fixture
def caller(hotline):
    return make_extension(hotline, "101", "sale01", call_permission=CallPermission.MOBILE)


def dial(extension, number: str, *, hangup: bool = True, client: SipClient | None = None):
    info = extension_reveal_credentials(extension=extension)
    if client is not None:
        return client.invite(
            number=number, domain=info.domain, username=info.username, password=info.password, hangup=hangup
        )
    host, port = host_port(info.proxy, 5060)
    with SipClient(host, port) as phone:
        return phone.invite(
            number=number, domain=info.domain, username=info.username, password=info.password, hangup=hangup
        )


def away_from_midnight() -> dt.datetime:
    """Vietnam's now, at least a minute and a half from its midnight (windows are per day)."""
    now = timezone.now().astimezone(TIME_ZONE)
    to_midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    if to_midnight < 90:
        time.sleep(to_midnight + 1)
        now = timezone.now().astimezone(TIME_ZONE)
    return now


def open_now(tenant, name="Open now"):
    """A schedule open for the half hour around now, today only."""
    now = away_from_midnight()
    minute = now.hour * 60 + now.minute
    window = {
        "days": [now.weekday()],
        "start": format_minute(max(0, minute - 30)),
        "end": format_minute(min(1440, minute + 30)),
    }
    return schedule_create(tenant=tenant, name=name, windows=[window])


def closed_today(tenant, name="Closed today"):
    """A schedule open all day every day but today."""
    today = away_from_midnight().weekday()
    window = {"days": [d for d in range(7) if d != today], "start": "00:00", "end": "24:00"}
    return schedule_create(tenant=tenant, name=name, windows=[window])


def reply(result) -> str:
    return f"{result.status} {result.response.reason}"


def assert_refused_with_reason(result, extension, reason: str) -> None:
    """The refusal says why in its Reason header, and is in the call history with that reason."""
    assert result.response.header("reason") == f'SIP;cause=403;text="{reason}"'
    call_records_import()
    refused = Call.objects.filter(caller_extension=extension, disposition=Disposition.REFUSED)
    records = list(refused.filter(reason=reason))
    assert len(records) == 1, list(Call.objects.values("disposition", "sip_code", "reason"))
    record = records[0]
    assert record.sip_code == 403
    assert (record.direction, record.callee) == (CallDirection.OUTBOUND, "0912345678")


# --- Outbound schedule -----------------------------------------------------------------------


def test_outside_the_schedule_calls_out_are_refused_inside_they_go_out(
    kamailio, dial_rules, gateway, caller, hotline
):
    closed = closed_today(hotline.tenant)
    hotline_set_outbound_schedule(hotline=hotline, schedule=closed)

    refused = dial(caller, "0912345678")
    assert reply(refused) == "403 Outside the outbound schedule"
    assert_refused_with_reason(refused, caller, "Outside the outbound schedule")
    assert refused.response.header("x-pbx-dial").startswith("number=0912345678;")
    assert gateway.invites == []
    check = dial_check(extension=caller, dialled="0912345678")
    assert (check.outcome, check.sip_reply, check.decided_by) == (
        Outcome.DENIED,
        "403 Outside the outbound schedule",
        "schedule",
    )
    tomorrow = (timezone.now().astimezone(TIME_ZONE) + dt.timedelta(days=1)).date()
    assert check.controls is not None
    assert check.controls.next_open == dt.datetime.combine(tomorrow, dt.time(0), tzinfo=TIME_ZONE)

    # Emergency numbers go out whatever the time; internal calls are not the carrier's.
    dial(caller, "113")
    assert [invite.user for invite in gateway.invites] == ["113"]
    assert reply(dial(caller, "102")) == "404 No such extension"

    # The extension's own schedule, open now, wins over the hotline's: the next call goes out.
    caller = extension_update(extension=caller, data={"outbound_schedule": open_now(hotline.tenant)})
    assert dial(caller, "0912345678").status == 486  # the gateway's answer
    assert gateway.invites[-1].user == "0912345678"
    assert dial_check(extension=caller, dialled="0912345678").allowed

    # A holiday today closes it again.
    schedule = caller.outbound_schedule
    from hotlines.services import schedule_update

    schedule_update(schedule=schedule, holidays=[timezone.now().astimezone(TIME_ZONE).date().isoformat()])
    assert reply(dial(caller, "0912345678")) == "403 Outside the outbound schedule"


# --- Call limits ----------------------------------------------------------------------------


def test_the_sixth_call_in_a_minute_is_refused_until_an_admin_lifts_the_limit(
    kamailio, dial_rules, gateway, caller
):
    caller = extension_update(extension=caller, data={"max_calls_per_minute": 5})
    for _ in range(5):
        assert dial(caller, "0912345678").status == 486
    assert len(gateway.invites) == 5

    check = dial_check(extension=caller, dialled="0912345678", kamailio_config=kamailio.config)
    assert (check.sip_reply, check.decided_by) == ("403 Call limit: 5 calls per minute", "limit")
    assert check.controls is not None and check.controls.counters is not None
    assert check.controls.counters.last_minute == 5
    sixth = dial(caller, "0912345678")
    assert reply(sixth) == "403 Call limit: 5 calls per minute"
    assert_refused_with_reason(sixth, caller, "Call limit: 5 calls per minute")
    assert len(gateway.invites) == 5
    # Internal and emergency calls are not limited.
    assert dial(caller, "114").status == 486

    before = call_limits_lift(extension=caller, config=kamailio.config)
    assert before.last_minute == 5
    assert call_counters(extension=caller, config=kamailio.config).last_minute == 0
    assert AuditEvent.objects.filter(action="call_limits_lift", object_id=str(caller.pk)).exists()
    assert dial(caller, "0912345678").status == 486
    assert call_counters(extension=caller, config=kamailio.config).last_minute == 1


def test_calls_per_day_are_counted_in_kamailio(kamailio, dial_rules, gateway, caller):
    caller = extension_update(extension=caller, data={"max_calls_per_day": 2})
    assert dial(caller, "0912345678").status == 486
    assert dial(caller, "02812345678").status == 486
    third = dial(caller, "0912345678")
    assert reply(third) == "403 Call limit: 2 calls per day"
    assert_refused_with_reason(third, caller, "Call limit: 2 calls per day")
    counters = call_counters(extension=caller, config=kamailio.config)
    assert counters.today == 2
    check = dial_check(extension=caller, dialled="0912345678", kamailio_config=kamailio.config)
    assert check.sip_reply == "403 Call limit: 2 calls per day"
    assert "2 calls out today" in check.reason


def wait_for_bye(phone: SipClient, timeout: float):
    """The BYE the phone receives within `timeout` (answered 200), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = parse_request(phone.receive(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            return None
        if request is not None and request.method == "BYE":
            phone.send(response_for(request, 200))
            return request
    return None


def test_a_call_out_is_cut_at_its_maximum_length_both_sides_get_bye(kamailio, dial_rules, gateway, caller):
    gateway.answer = 200
    info = extension_reveal_credentials(extension=caller)
    host, port = host_port(info.proxy, 5060)
    with SipClient(host, port) as phone:
        # Without a limit, nobody hangs up a call after a few seconds.
        unlimited = dial(caller, "0912345678", hangup=False, client=phone)
        assert unlimited.status == 200
        assert wait_for_bye(phone, 3.5) is None
        assert phone.bye(unlimited).status == 200
        gateway.clear()

        caller = extension_update(extension=caller, data={"max_call_seconds": 2})
        answered = dial(caller, "0912345678", hangup=False, client=phone)
        assert answered.status == 200
        answered_at = time.monotonic()
        # Kamailio's dialog timer (1 s ticks) sends BYE to the caller…
        bye = wait_for_bye(phone, 20)
        assert bye is not None, kamailio.log()[-3000:]
        assert bye.header("call-id") == answered.response.header("call-id")
        assert 1 <= time.monotonic() - answered_at < 12
        # … and to the carrier.
        [gateway_bye] = gateway.wait_for("BYE", timeout=10)
        assert gateway_bye.header("call-id") == gateway.invites[0].header("call-id")


# --- Caller ID format -----------------------------------------------------------------------


def test_the_caller_id_in_e164_when_the_gateway_wants_it(kamailio, dial_rules, gateway, caller, settings):
    dial(caller, "0912345678")
    assert gateway.invites[-1].header_user("p-asserted-identity") == "19001234"
    kamailio.rpc("cfg.sets", "pbx", "caller_id_format", "e164")
    try:
        dial(caller, "0912345678")
        assert gateway.invites[-1].header_user("p-asserted-identity") == "+8419001234"
        assert gateway.invites[-1].header_user("from") == "+8419001234"
    finally:
        kamailio.rpc("cfg.sets", "pbx", "caller_id_format", "national")
    settings.SIP_GATEWAY_CALLER_ID_FORMAT = "e164"
    caller_id = dial_check(extension=caller, dialled="0912345678").caller_id
    assert caller_id is not None
    assert (caller_id.number, caller_id.format) == ("+8419001234", "e164")


# --- The dashboard and the API show Kamailio's counters and lift them ------------------------


def test_the_extension_page_and_the_api_show_and_lift_the_counters(
    kamailio, dial_rules, gateway, caller, client, monkeypatch
):
    from django.urls import reverse

    from tests.api import api_client
    from tests.factories import make_admin

    # The dashboard finds `make sip`'s control socket through KAMAILIO_RUNTIME_DIR.
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(kamailio.config.runtime_dir))
    caller = extension_update(extension=caller, data={"max_calls_per_minute": 2, "max_calls_per_day": 50})
    for _ in range(2):
        assert dial(caller, "0912345678").status == 486
    assert reply(dial(caller, "0912345678")) == "403 Call limit: 2 calls per minute"

    admin = make_admin(caller.hotline.tenant)
    client.force_login(admin)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("extensions:extension_detail", kwargs={"pk": caller.pk})).content.decode()
    assert "2 in the last 60 s" in page and "2 today" in page
    api = api_client(admin)
    counters_url = reverse("api:extension-call-counters", kwargs={"pk": caller.pk})
    assert api.get(counters_url).json() == {
        "extension": {"id": caller.pk, "number": "101", "alias": "sale01"},
        "readable": True,
        "last_minute": 2,
        "today": 2,
    }
    check = api.get(
        reverse("api:extension-dial-check", kwargs={"pk": caller.pk}), {"number": "0912345678"}
    ).json()
    assert check["decided_by"] == "limit" and check["limits"]["counters"] == {"last_minute": 2, "today": 2}

    response = client.post(reverse("extensions:extension_lift_limits", kwargs={"pk": caller.pk}), follow=True)
    assert "Call limits of extension 101 lifted" in response.content.decode()
    assert api.get(counters_url).json()["last_minute"] == 0
    assert dial(caller, "0912345678").status == 486
    lifted = api.post(reverse("api:extension-lift-limits", kwargs={"pk": caller.pk})).json()
    assert (lifted["last_minute"], lifted["today"]) == (1, 1)
    assert AuditEvent.objects.filter(action="call_limits_lift", object_id=str(caller.pk)).count() == 2
