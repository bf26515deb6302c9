"""Call records through a real Kamailio: every call attempt (answered, busy, cancelled, no
answer, refused by Kamailio itself) lands in the call history from Kamailio's own accounting."""

import re
import time

import pytest
from django.test import Client
from django.urls import reverse

from extensions.choices import CallPermission
from extensions.services import extension_reveal_credentials
from sip.call_records import call_records_import
from sip.choices import CallDirection, Disposition
from sip.models import Call
from sip.signals import call_ended
from tests.factories import HotlineFactory, make_admin, make_extension

from .media import Baresip, write_tone
from .test_calls import call, login

pytestmark = pytest.mark.sip


@pytest.fixture
def hotline(kamailio, dial_rules):
    hotline = HotlineFactory(number="19007777")
    kamailio.reload_domains()
    return hotline


@pytest.fixture
def caller(hotline):
    return make_extension(hotline, "101", "sale01", call_permission=CallPermission.MOBILE)


@pytest.fixture
def ended_signals():
    received = []

    def receiver(sender, calls, **kwargs):
        received.extend(calls)

    call_ended.connect(receiver, dispatch_uid="test_call_records")
    yield received
    call_ended.disconnect(dispatch_uid="test_call_records")


def wait_for_call(**filters) -> Call:
    """The call as the history shows it, within 5 s (the importer runs on every read)."""
    deadline = time.monotonic() + 5
    while True:
        call_records_import()
        found = Call.objects.filter(**filters).first()
        if found is not None and found.ended_at is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"no ended call {filters} within 5 s: {list(Call.objects.values())}")
        time.sleep(0.1)


def test_a_refused_call_is_recorded_with_its_reason(kamailio, gateway, caller, ended_signals):
    result = call(login(caller), "0012025550100")
    assert result.status == 403

    record = wait_for_call(caller="101")
    assert record.disposition == Disposition.REFUSED
    assert (record.sip_code, record.reason) == (403, "Call permission: international required")
    assert result.response.header("reason") == 'SIP;cause=403;text="Call permission: international required"'
    assert record.direction == CallDirection.OUTBOUND
    assert record.callee == "0012025550100"
    assert record.caller_extension_id == caller.pk
    assert record.tenant_id == caller.hotline.tenant_id and record.hotline_id == caller.hotline_id
    assert record.duration == 0 and record.answered_at is None
    assert ended_signals == [record]


def test_a_busy_carrier_is_busy_with_the_caller_id_used(kamailio, gateway, caller):
    gateway.answer = 486
    assert call(login(caller), "+84912345678").status == 486

    record = wait_for_call(caller="101")
    assert (record.disposition, record.sip_code) == (Disposition.BUSY, 486)
    assert record.callee == "0912345678"  # normalised, as dialled through the gateway
    assert record.caller_id == "19007777"
    assert record.direction == CallDirection.OUTBOUND


def test_an_answered_outbound_call_has_its_answer_and_end(kamailio, gateway, caller):
    gateway.answer = 200
    assert call(login(caller), "0912345678").status == 200

    record = wait_for_call(caller="101")
    assert record.disposition == Disposition.ANSWERED
    assert record.started_at <= record.answered_at <= record.ended_at
    assert record.duration == 0


def test_calling_an_unregistered_extension_is_no_answer(kamailio, gateway, caller, hotline):
    make_extension(hotline, "104", "kd04")
    assert call(login(caller), "104").status == 480

    record = wait_for_call(caller="101")
    assert (record.disposition, record.direction, record.callee) == (
        Disposition.NO_ANSWER,
        CallDirection.INTERNAL,
        "104",
    )
    assert record.callee_extension.number == "104"


def test_a_supervisor_who_is_not_is_refused(kamailio, gateway, caller, hotline):
    make_extension(hotline, "104", "kd04")
    assert call(login(caller), "*33104").status == 403

    record = wait_for_call(caller="101")
    assert (record.disposition, record.direction, record.callee, record.reason) == (
        Disposition.REFUSED,
        CallDirection.SUPERVISION,
        "104",
        "Not the supervisor",
    )


IN_PROGRESS = "đang diễn ra"  # the note of a call not ended yet ("in progress")


def history_rows(page) -> list[tuple[str, ...]]:
    """The cells of the history table's rows (sip.call_tables.ROW), as rendered."""
    assert page.status_code == 200
    body = page.content.decode().split('id="call-table"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>" + r"<td>(.*?)</td>" * 7 + r"</tr>", body)


@pytest.fixture
def tone(tmp_path):
    return write_tone(tmp_path / "tone.wav", 1000)


def test_a_call_between_two_softphones_appears_answered_with_its_duration(
    kamailio, relay, hotline, caller, tone, tmp_path
):
    """Two real softphones (baresip): 101 calls 104, they talk ~3 s, 101 hangs up. The
    history page shows it answered, with its duration, within 5 s of the end."""
    callee = make_extension(hotline, "104", "kd04")
    admin = make_admin(hotline.tenant)
    browser = Client()
    browser.force_login(admin)
    with (
        Baresip(extension_reveal_credentials(extension=caller), tmp_path / "a", tone) as phone_a,
        Baresip(extension_reveal_credentials(extension=callee), tmp_path / "b", tone) as phone_b,
    ):
        phone_a.dial("104")
        phone_a.wait_event("CALL_ESTABLISHED")
        time.sleep(3)
        phone_a.hangup()
        phone_b.wait_event("CALL_CLOSED")
        hung_up = time.monotonic()

    url = reverse("calls:extension_calls", kwargs={"pk": caller.pk})
    # The call's row in the history table once it has ended (not "in progress"), within 5 s of
    # the hang-up; the filter form's options name every result, so the row itself is read.
    while not (rows := history_rows(page := browser.get(url))) or IN_PROGRESS in rows[0][5]:
        assert time.monotonic() - hung_up < 5, page.content.decode()[-2000:]
        time.sleep(0.2)
    [(_started, row_caller, row_callee, direction, _caller_id, result, duration)] = rows
    assert (row_caller, row_callee, direction) == ("101", "104", "Nội bộ")  # Vietnamese by default
    assert re.fullmatch(r'<span class="badge disposition-answered text-bg-success">Đã trả lời</span>', result)
    assert 2 <= int(duration) <= 5
    [record] = Call.objects.all()
    assert record.disposition == Disposition.ANSWERED
    assert (record.caller, record.callee, record.direction) == ("101", "104", CallDirection.INTERNAL)
    assert record.callee_extension_id == callee.pk
    assert record.duration == int(duration)
    assert record.answered_at and record.ended_at


def test_a_call_the_caller_cancels_while_ringing_is_cancelled(
    kamailio, relay, hotline, caller, tone, tmp_path
):
    callee = make_extension(hotline, "104", "kd04")
    with (
        Baresip(extension_reveal_credentials(extension=caller), tmp_path / "a", tone) as phone_a,
        Baresip(
            extension_reveal_credentials(extension=callee), tmp_path / "b", tone, answer=False
        ) as phone_b,
    ):
        phone_a.dial("104")
        phone_b.wait_event("CALL_INCOMING")
        phone_a.hangup()
        phone_b.wait_event("CALL_CLOSED")

    record = wait_for_call(caller="101")
    assert (record.disposition, record.sip_code) == (Disposition.CANCELLED, 487)


def test_a_call_the_callee_rejects_is_busy(kamailio, relay, hotline, caller, tone, tmp_path):
    callee = make_extension(hotline, "104", "kd04")
    with (
        Baresip(extension_reveal_credentials(extension=caller), tmp_path / "a", tone) as phone_a,
        Baresip(
            extension_reveal_credentials(extension=callee), tmp_path / "b", tone, answer=False
        ) as phone_b,
    ):
        phone_a.dial("104")
        phone_b.wait_event("CALL_INCOMING")
        phone_b.hangup()  # baresip rejects a ringing call with 486 Busy Here
        phone_a.wait_event("CALL_CLOSED")

    record = wait_for_call(caller="101")
    assert record.disposition == Disposition.BUSY
