"""Carrier gateways through a real Kamailio (dispatcher) and SIPp processes as the carriers:
priorities, failover when a gateway dies or does not answer, OPTIONS probes, the caller-ID format
each gateway wants, calls from a carrier to an extension, and the operator's page."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent
from extensions.services import extension_reveal_credentials
from hotlines.choices import Carrier
from sip.call_records import call_records_import
from sip.choices import CallDirection, CallerIdFormat, Disposition, GatewayState
from sip.gateways import gateway_create, gateway_delete, gateway_states, gateway_update
from sip.kamailio import (
    RELAXED_PROTECTION,
    Kamailio,
    KamailioConfig,
    db_url_for,
    free_port,
    free_sip_port,
    host_port,
)
from sip.models import Call
from sip.services import sip_registrations_remove
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, UserFactory, make_extension

from .uas import response_for

pytestmark = pytest.mark.sip

SIPP_DIR = Path(__file__).parent / "sipp"
# Gateways live on loopback addresses of their own, so that a call from a carrier is told apart
# from the phones (127.0.0.1) by its source address, as in production.
GATEWAY_HOSTS = ("127.0.0.61", "127.0.0.62")
PROBE_INTERVAL = 1
REPLY_TIMEOUT_MS = 1000


class SippGateway:
    """A carrier gateway: SIPp as a UAS on host:port (a free port), answering OPTIONS probes with
    200 (-aa) and calls per its scenario (486 Busy Here, or silence), logging every message."""

    def __init__(self, host: str, tmp: Path, *, scenario: str = "gateway_uas.xml") -> None:
        self.host = host
        self.port = free_sip_port(host)
        self.scenario = SIPP_DIR / scenario
        self.log = tmp / f"gateway-{host}-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> SippGateway:
        self.log.unlink(missing_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 — our own command line
            [
                shutil.which("sipp") or "sipp",
                "-sf",
                str(self.scenario),
                "-i",
                self.host,
                "-p",
                str(self.port),
                "-aa",
                "-trace_msg",
                "-message_file",
                str(self.log),
                "-nostdin",
                "-t",
                "u1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.log.parent,
        )
        return self

    def stop(self) -> None:
        """Kill it (a carrier whose SBC died): nothing answers at its address any more."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def invites(self) -> list[str]:
        """The INVITEs it received so far (SIPp writes each message as it comes)."""
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return []
        messages = re.split(r"^-{20,}.*$", text, flags=re.MULTILINE)
        found = []
        for message in messages:
            body = message.split("\n\n", 1)[-1].lstrip() if "message received" in message else ""
            if body.startswith("INVITE "):
                found.append(body.replace("\r\n", "\n"))
        return found

    def wait_invites(self, count: int, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(invites := self.invites()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return invites


def header_user(message: str, name: str) -> str:
    match = re.search(rf"^{name}:[^\n]*?sips?:([^@;>]+)@", message, flags=re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else ""


@pytest.fixture(scope="module")
def carrier_kamailio(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server):
    """A Kamailio of its own (the session's falls back to the stand-in SIP_GATEWAY_URI, which the
    other tests rely on): no fallback gateway, probes every second, a gateway that has not
    answered a call in 1 s is left for the next."""
    with django_db_blocker.unblock():
        db_url = db_url_for(connection.settings_dict, user=kamailio_role, password="")
    runtime_dir = tmp_path_factory.mktemp("kamailio-carriers")
    config = KamailioConfig(
        db_url=db_url,
        sip_port=free_sip_port(),
        ws_port=free_port(),
        children=2,
        domain_reload_seconds=3600,
        runtime_dir=runtime_dir,
        dialplan_reload_delta=0,
        rtpengine_sock=rtpengine_server.config.kamailio_socket,
        # Nothing locks, but pike drops floods (more than 100 requests in 2 s from one address,
        # above what the phones of these tests send), which a carrier's trunk must not count as.
        protection=dataclasses.replace(RELAXED_PROTECTION, pike_density=100),
        gateway_probe_interval=PROBE_INTERVAL,
        gateway_probe_threshold=1,
        gateway_revive_threshold=1,
        gateway_reply_timeout_ms=REPLY_TIMEOUT_MS,
        # A probe of a dead gateway fails after 2 s.
        noninvite_timeout_ms=2000,
        dispatcher_reload_delta=0,
    )
    # A loaded machine (CI beside other suites) may take longer than the default 20 s to start it.
    server = Kamailio(config).start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kamailio(carrier_kamailio, transactional_db, settings, monkeypatch):
    config = carrier_kamailio.config
    settings.SIP_OUTBOUND_PROXY = f"{config.listen_ip}:{config.sip_port}"
    settings.SIP_WEBSOCKET_URL = f"ws://{config.listen_ip}:{config.ws_port}{config.ws_path}"
    # The dashboard finds this Kamailio's control socket as it finds `make sip`'s.
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(config.runtime_dir))
    yield carrier_kamailio
    # The table is emptied after each test; the dispatcher forgets the gateways with it.
    carrier_kamailio.reload_gateways()


@pytest.fixture
def dial_rules(kamailio):
    from dialplan.testing import install_vietnam_rules

    install_vietnam_rules()
    kamailio.reload_dialplan()


@pytest.fixture
def caller(kamailio):
    """Extension 101 of hotline 19001234, whose domain Kamailio knows."""
    extension = make_extension(HotlineFactory(number="19001234", carrier=Carrier.VIETTEL), "101", "sale01")
    kamailio.reload_domains()
    return extension


@pytest.fixture
def sipp_gateways(tmp_path):
    started: list[SippGateway] = []

    def start(host: str, **kwargs) -> SippGateway:
        gateway = SippGateway(host, tmp_path, **kwargs).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def dial(extension, number: str):
    info = extension_reveal_credentials(extension=extension)
    host, port = host_port(info.proxy, 5060)
    with SipClient(host, port) as phone:
        return phone.invite(number=number, domain=info.domain, username=info.username, password=info.password)


def add_gateway(sipp: SippGateway, name: str, **fields):
    return gateway_create(name=name, host=sipp.host, port=sipp.port, **fields)


def wait_state(gateway, state: GatewayState, timeout: float) -> float:
    """Seconds until Kamailio reports the gateway in `state`."""
    start = time.monotonic()
    while True:
        states = gateway_states() or {}
        status = states.get(gateway.pk)
        if status is not None and status.state == state:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{gateway.name} not {state} within {timeout}s: {states}")
        time.sleep(0.1)


# --- Calls out: priorities, probes, failover --------------------------------------------------


def test_calls_go_to_the_first_gateway_and_to_the_next_within_seconds_of_its_death(
    kamailio, dial_rules, caller, sipp_gateways, client
):
    first, second = sipp_gateways(GATEWAY_HOSTS[0]), sipp_gateways(GATEWAY_HOSTS[1])
    primary = add_gateway(first, "Viettel SBC 1", priority=1, caller_id_format=CallerIdFormat.NATIONAL)
    backup = add_gateway(second, "VNPT SBC", priority=2, caller_id_format=CallerIdFormat.E164)
    # Created through the service: audited, and Kamailio told after the commit.
    assert AuditEvent.objects.filter(object_repr__startswith="Viettel SBC 1").exists()
    wait_state(primary, GatewayState.ACTIVE, timeout=5)
    wait_state(backup, GatewayState.ACTIVE, timeout=5)

    for _ in range(3):
        assert dial(caller, "0912345678").status == 486
    invites = first.wait_invites(3)
    assert len(invites) == 3 and second.invites() == []
    # The caller ID in the format this gateway wants: national.
    assert header_user(invites[0], "From") == "19001234"
    assert header_user(invites[0], "P-Asserted-Identity") == "19001234"
    assert invites[0].startswith("INVITE sip:0912345678@")

    # The operator's page shows both alive.
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    client.cookies["django_language"] = "en"
    page = client.get(reverse("admin:sip_gateway_changelist")).content.decode()
    assert page.count('data-gateway-state="active"') == 2

    first.stop()
    killed = time.monotonic()
    detected_after = wait_state(primary, GatewayState.INACTIVE, timeout=15)
    print(f"gateway killed: marked inactive after {detected_after:.1f} s")  # noqa: T201
    for _ in range(2):
        assert dial(caller, "0912345678").status == 486
    moved_after = time.monotonic() - killed
    invites = second.wait_invites(2)
    assert len(invites) == 2
    # The backup wants E.164.
    assert header_user(invites[0], "From") == "+8419001234"
    assert header_user(invites[0], "P-Asserted-Identity") == "+8419001234"
    assert moved_after < 15, moved_after

    page = client.get(reverse("admin:sip_gateway_changelist")).content.decode()
    assert 'data-gateway-state="inactive"' in page and "Inactive (not answering)" in page
    client.cookies["django_language"] = "vi"
    page = client.get(reverse("admin:sip_gateway_changelist")).content.decode()
    assert "Không hoạt động" in page


def test_a_call_the_gateway_does_not_answer_moves_to_the_next_one(
    kamailio, dial_rules, caller, sipp_gateways
):
    # The first gateway answers probes but swallows calls: only the call's own timeout tells.
    silent = sipp_gateways(GATEWAY_HOSTS[0], scenario="gateway_silent.xml")
    busy = sipp_gateways(GATEWAY_HOSTS[1])
    first = add_gateway(silent, "Silent SBC", priority=1, caller_id_format=CallerIdFormat.E164)
    add_gateway(busy, "Busy SBC", priority=2, caller_id_format=CallerIdFormat.NATIONAL)
    wait_state(first, GatewayState.ACTIVE, timeout=5)

    started = time.monotonic()
    result = dial(caller, "0912345678")
    took = time.monotonic() - started
    print(f"silent gateway: the next one answered after {took:.2f} s")  # noqa: T201
    assert result.status == 486  # the second gateway's answer
    swallowed = silent.wait_invites(1)
    assert header_user(swallowed[0], "From") == "+8419001234"
    [invite] = busy.wait_invites(1)
    # The branch to the second gateway carries its own caller-ID format.
    assert header_user(invite, "From") == "19001234"
    assert header_user(invite, "P-Asserted-Identity") == "19001234"
    # (tm counts on its own timer ticks: a little under the second is still the timeout.)
    assert REPLY_TIMEOUT_MS / 1000 - 0.2 <= took < REPLY_TIMEOUT_MS / 1000 + 4, took


def test_gateways_of_equal_priority_share_the_calls_by_weight(kamailio, dial_rules, caller, sipp_gateways):
    heavy, light = sipp_gateways(GATEWAY_HOSTS[0]), sipp_gateways(GATEWAY_HOSTS[1])
    first = add_gateway(heavy, "Heavy SBC", priority=1, weight=75)
    second = add_gateway(light, "Light SBC", priority=1, weight=25)
    wait_state(first, GatewayState.ACTIVE, timeout=5)
    wait_state(second, GatewayState.ACTIVE, timeout=5)
    # Kamailio deals each 100 calls 75/25 in a shuffled order: 40 calls give the light one about
    # 10 (none at all once in about a million runs).
    for _ in range(40):
        assert dial(caller, "0912345678").status == 486
        time.sleep(0.1)  # the phone stays well under this Kamailio's flood limit (100 in 2 s)
    time.sleep(0.5)
    shares = len(heavy.invites()), len(light.invites())
    assert sum(shares) == 40 and shares[0] > shares[1] > 0, shares


def test_a_tenants_own_gateway_comes_before_the_providers(kamailio, dial_rules, caller, sipp_gateways):
    provider, own = sipp_gateways(GATEWAY_HOSTS[0]), sipp_gateways(GATEWAY_HOSTS[1])
    add_gateway(provider, "Provider SBC", priority=1)
    mine = add_gateway(own, "Tenant SBC", priority=5, tenant=caller.hotline.tenant)
    wait_state(mine, GatewayState.ACTIVE, timeout=5)
    assert dial(caller, "0912345678").status == 486
    assert len(own.wait_invites(1)) == 1 and provider.invites() == []

    gateway_update(gateway=mine, enabled=False)
    assert dial(caller, "0912345678").status == 486
    assert len(provider.wait_invites(1)) == 1


def test_without_any_gateway_calls_out_are_503(kamailio, dial_rules, caller, sipp_gateways):
    gateway = add_gateway(sipp_gateways(GATEWAY_HOSTS[0]), "Only SBC")
    gateway_delete(gateway=gateway)
    result = dial(caller, "0912345678")
    assert (result.status, result.response.reason) == (503, "No carrier gateway configured")


# --- Calls from a carrier ---------------------------------------------------------------------


def carrier_call(
    host: str, kamailio, number: str, tmp: Path, *, scenario: str = "carrier_uac.xml"
) -> subprocess.CompletedProcess:
    """SIPp as the carrier calling `number` from `host` (one call, per `scenario`)."""
    config = kamailio.config
    return subprocess.run(  # noqa: S603 — our own command line
        [
            shutil.which("sipp") or "sipp",
            f"{config.listen_ip}:{config.sip_port}",
            "-sf",
            str(SIPP_DIR / scenario),
            "-s",
            number,
            "-i",
            host,
            "-p",
            str(free_sip_port(host)),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "15",
            "-timeout_error",
            "-trace_err",
            "-error_file",
            str(tmp / "carrier_uac_errors.log"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp,
    )


@contextlib.contextmanager
def carrier_calling(kamailio, sipp_gateways, extension, number: str, tmp: Path, **kwargs):
    """A carrier gateway up, the extension's phone registered, and the carrier's call to
    `number` under way (carrier_call): yields the phone, its contact and the call (a future)."""
    gateway = add_gateway(sipp_gateways(GATEWAY_HOSTS[0]), "Viettel SBC")
    wait_state(gateway, GatewayState.ACTIVE, timeout=5)
    info = extension_reveal_credentials(extension=extension)
    host, port = host_port(info.proxy, 5060)
    with SipClient(host, port) as phone, ThreadPoolExecutor(max_workers=1) as pool:
        assert (
            phone.register(username=info.username, domain=info.domain, password=info.password).status == 200
        )
        try:
            call = pool.submit(carrier_call, GATEWAY_HOSTS[0], kamailio, number, tmp, **kwargs)
            yield phone, f"sip:{extension.number}@{host}:{phone.local_port}", call
        finally:
            assert sip_registrations_remove(extension=extension, config=kamailio.config)


def test_a_call_from_a_carrier_rings_the_extension_and_is_recorded_inbound(
    kamailio, dial_rules, caller, sipp_gateways, tmp_path
):
    # The hotline number in E.164, then the extension number.
    with carrier_calling(kamailio, sipp_gateways, caller, "+8419001234101", tmp_path) as (phone, _, carrier):
        invite = phone.receive(timeout=10)
        phone.send(response_for(invite, 486))
        result = carrier.result(timeout=30)
    assert invite.startswith(b"INVITE sip:101@"), invite[:200]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    deadline = time.monotonic() + 5
    # (Earlier tests' accounting may be imported with it: only calls from a carrier count here.)
    while (
        not (calls := list(Call.objects.filter(caller="0987654321", callee="101")))
        and time.monotonic() < deadline
    ):
        call_records_import()
        time.sleep(0.2)
    assert len(calls) == 1, [(c.caller, c.callee, c.direction, c.disposition, c.reason) for c in calls]
    [call] = calls
    assert call.direction == CallDirection.INBOUND
    assert (call.caller, call.callee) == ("0987654321", "101")
    assert call.callee_extension_id == caller.pk and call.caller_extension_id is None
    assert call.hotline_id == caller.hotline_id and call.disposition == Disposition.BUSY


def test_calls_from_unknown_addresses_or_to_another_tenants_hotline_are_not_carried(
    kamailio, dial_rules, caller, sipp_gateways, tmp_path
):
    other_tenant_gateway = add_gateway(
        sipp_gateways(GATEWAY_HOSTS[0]), "Other tenant SBC", tenant=HotlineFactory().tenant
    )
    wait_state(other_tenant_gateway, GatewayState.ACTIVE, timeout=5)
    # From a tenant's gateway to another tenant's hotline: refused.
    result = carrier_call(GATEWAY_HOSTS[0], kamailio, "19001234101", tmp_path)
    assert result.returncode != 0
    assert "403" in (tmp_path / "carrier_uac_errors.log").read_text(errors="replace")
    # From an address that is no gateway: a stranger must log in like a phone (407 challenge).
    (tmp_path / "carrier_uac_errors.log").unlink(missing_ok=True)
    result = carrier_call("127.0.0.63", kamailio, "19001234101", tmp_path)
    assert result.returncode != 0
    assert Call.objects.filter(direction=CallDirection.INBOUND).count() == 0


def carrier_burst(host: str, kamailio, number: str, calls: int, tmp: Path) -> subprocess.CompletedProcess:
    """SIPp calling `number` from `host` `calls` times within a second; a call that gets no
    answer within 4 s fails (exit code 1)."""
    config = kamailio.config
    command = [
        shutil.which("sipp") or "sipp",
        f"{config.listen_ip}:{config.sip_port}",
        "-sf",
        str(SIPP_DIR / "carrier_burst.xml"),
        "-s",
        number,
        "-i",
        host,
        "-p",
        str(free_sip_port(host)),
        "-m",
        str(calls),
        "-r",
        str(calls),
        "-recv_timeout",
        "4000",
        "-timeout",
        "30",
        "-nostdin",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=tmp)  # noqa: S603


def test_a_gateways_busy_trunk_is_not_taken_for_a_flood(kamailio, caller, sipp_gateways, tmp_path):
    gateway = add_gateway(sipp_gateways(GATEWAY_HOSTS[0]), "Busy trunk")
    wait_state(gateway, GatewayState.ACTIVE, timeout=5)
    # 150 calls (300 requests with their ACKs) in a second: every one answered (404: no such
    # hotline), none dropped by pike…
    from_gateway = carrier_burst(GATEWAY_HOSTS[0], kamailio, "19009999101", 150, tmp_path)
    assert from_gateway.returncode == 0, from_gateway.stdout[-1500:]
    # … while the same from an address that is no gateway is a flood.
    from_stranger = carrier_burst("127.0.0.64", kamailio, "19009999101", 150, tmp_path)
    assert from_stranger.returncode != 0


def test_an_answered_call_from_a_carrier_has_its_duration_in_the_history(
    kamailio, dial_rules, caller, sipp_gateways, tmp_path
):
    scenario = "carrier_answered_uac.xml"
    with carrier_calling(kamailio, sipp_gateways, caller, "19001234101", tmp_path, scenario=scenario) as (
        phone,
        contact,
        carrier,
    ):
        invite = phone.receive(timeout=10)
        phone.send(response_for(invite, 200, contact=contact))
        bye = phone.receive(timeout=10)
        while not bye.startswith(b"BYE "):  # the ACK comes first
            bye = phone.receive(timeout=10)
        phone.send(response_for(bye, 200))
        result = carrier.result(timeout=30)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    deadline = time.monotonic() + 5
    call = None
    while time.monotonic() < deadline:
        call_records_import()
        call = Call.objects.filter(callee="101", direction=CallDirection.INBOUND).first()
        if call is not None and call.ended_at is not None:
            break
        time.sleep(0.2)
    assert call is not None and call.ended_at is not None
    assert call.disposition == Disposition.ANSWERED and call.callee_extension_id == caller.pk
    assert 1 <= call.duration <= 4, call.duration
