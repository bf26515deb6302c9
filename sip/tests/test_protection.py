"""Protection at the SIP server, with a real Kamailio that has its locks on (the session's
Kamailio has them relaxed, since other tests send wrong passwords from the loopback): brute
force locks the source address and the extension, an extension registers only from its
allowed networks and with at most its number of devices, a REGISTER flood is answered 503
with Retry-After, and the dashboard lists the locks and unblocks them (audited)."""

import csv
import datetime as dt
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone, translation

from extensions.services import extension_reveal_credentials
from sip.choices import SecurityEventKind
from sip.kamailio import Kamailio, KamailioConfig, Protection, db_url_for, free_port, free_sip_port
from sip.models import SecurityEvent
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, make_extension

pytestmark = pytest.mark.sip

WRONG = "Wrong-Password-123"
# Short locks, so that their end is seen within a test.
IP_BLOCK_SECONDS = 6
EXTENSION_LOCK_SECONDS = 3


def _start(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server, protection) -> Kamailio:
    with django_db_blocker.unblock():
        db_url = db_url_for(connection.settings_dict, user=kamailio_role, password="")
    config = KamailioConfig(
        db_url=db_url,
        sip_port=free_sip_port(),
        ws_port=free_port(),
        children=2,
        domain_reload_seconds=3600,
        runtime_dir=tmp_path_factory.mktemp("kamailio-protected"),
        rtpengine_sock=rtpengine_server.config.kamailio_socket,
        protection=protection,
    )
    return Kamailio(config).start()


def _serving(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server, protection):
    """A module fixture's body: the Kamailio of `protection`, stopped after the module."""
    server = _start(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server, protection)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def guarded_server(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server):
    """Kamailio with the production limits (10 failures) but short locks; pike on (60 per 2 s)."""
    protection = Protection(
        auth_fail_limit=10,
        extension_fail_limit=10,
        ip_block_seconds=IP_BLOCK_SECONDS,
        extension_lock_seconds=EXTENSION_LOCK_SECONDS,
        pike_density=60,
        register_rate_limit=0,
    )
    yield from _serving(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server, protection)


def _cleared(server, settings) -> Kamailio:
    """The server with its locks and counters cleared, and the login info pointing at it."""
    for table in ("authfail", "ipban", "extlock"):
        server.rpc("htable.flush", table)
    config = server.config
    settings.SIP_OUTBOUND_PROXY = f"{config.listen_ip}:{config.sip_port}"
    settings.SIP_WEBSOCKET_URL = f"ws://{config.listen_ip}:{config.ws_port}{config.ws_path}"
    return server


@pytest.fixture
def guarded(guarded_server, transactional_db, settings):
    """The guarded Kamailio, its locks and counters cleared before each test."""
    return _cleared(guarded_server, settings)


def register(server, info, *, password=None, source="127.0.0.1", expires=300):
    config = server.config
    with SipClient(config.listen_ip, config.sip_port, local_ip=source) as phone:
        return phone.register(
            username=info.username,
            domain=info.domain,
            password=info.password if password is None else password,
            expires=expires,
        )


def _extensions(server, *numbers, **fields):
    hotline = HotlineFactory()
    server.reload_domains()
    extensions = [make_extension(hotline, number, f"user{number}", **fields) for number in numbers]
    return [extension_reveal_credentials(extension=e) for e in extensions], extensions


def test_ten_wrong_passwords_lock_the_source_and_the_extension(guarded):
    (target, other), _ = _extensions(guarded, "101", "102")
    for _ in range(9):
        assert register(guarded, target, password=WRONG).status == 403
    # Nine failures lock nothing yet.
    assert register(guarded, target).status == 200
    assert register(guarded, target, password=WRONG).status == 403  # the tenth

    refused = register(guarded, target)  # the right password, from the blocked address
    assert (refused.status, refused.reason) == (403, "Blocked: too many failed logins from this address")
    # Another address with the right password: the extension itself is locked for a short while…
    locked = register(guarded, target, source="127.0.0.2")
    assert (locked.status, locked.reason) == (403, "Extension locked: too many wrong passwords")
    # …while another extension from another address registers.
    assert register(guarded, other, source="127.0.0.2").status == 200

    events = {e.kind: e for e in SecurityEvent.objects.all()}
    assert set(events) == {"ip_blocked", "extension_locked"}
    assert (events["ip_blocked"].source_ip, events["ip_blocked"].count) == ("127.0.0.1", 10)
    assert (events["extension_locked"].username, events["extension_locked"].domain) == (
        "101",
        target.domain,
    )

    # The extension's lock ends first; the owner from elsewhere is not held beyond it.
    time.sleep(EXTENSION_LOCK_SECONDS + 1)
    assert register(guarded, target, source="127.0.0.2").status == 200
    assert register(guarded, target).status == 403  # the address is still blocked
    time.sleep(IP_BLOCK_SECONDS - EXTENSION_LOCK_SECONDS)
    assert register(guarded, target).status == 200


def test_registration_only_from_the_allowed_networks(guarded):
    (elsewhere,), _ = _extensions(guarded, "201", allowed_networks=["10.0.0.0/8"])
    refused = register(guarded, elsewhere)
    assert (refused.status, refused.reason) == (403, "Not allowed from this network")

    # Typed with a netmask: stored as 127.0.0.2/32, the form Kamailio's ipops reads.
    (pinned,), _ = _extensions(guarded, "202", allowed_networks=["192.0.2.0/24", "127.0.0.2/255.255.255.255"])
    assert register(guarded, pinned, source="127.0.0.2").status == 200
    assert register(guarded, pinned, source="127.0.0.1").status == 403
    # Refusals for the network are no failed logins: nothing got locked.
    assert not SecurityEvent.objects.exists()


def test_max_contacts_refuses_another_device(guarded):
    (info,), _ = _extensions(guarded, "301", max_contacts=1)
    config = guarded.config
    with (
        SipClient(config.listen_ip, config.sip_port) as desk,
        SipClient(config.listen_ip, config.sip_port) as mobile,
    ):
        assert desk.register(username=info.username, domain=info.domain, password=info.password).status == 200
        second = mobile.register(username=info.username, domain=info.domain, password=info.password)
        assert (second.status, second.reason) == (403, "Too many devices")
        # The registered device refreshes as before.
        assert desk.register(username=info.username, domain=info.domain, password=info.password).status == 200


def test_pike_drops_a_flood_from_one_address_and_records_it(guarded):
    config = guarded.config
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.3", 0))
    sock.settimeout(0.5)
    port = sock.getsockname()[1]
    for n in range(200):
        sock.sendto(
            (
                f"OPTIONS sip:{config.listen_ip}:{config.sip_port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.3:{port};branch=z9hG4bK-flood{n};rport\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:flood@127.0.0.3>;tag=f\r\n"
                f"To: <sip:{config.listen_ip}>\r\nCall-ID: flood-{n}@127.0.0.3\r\nCSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode(),
            (config.listen_ip, config.sip_port),
        )
    answered = 0
    try:
        while True:
            sock.recv(65535)
            answered += 1
    except TimeoutError:
        pass
    sock.close()
    assert answered < 200
    assert SecurityEvent.objects.filter(kind="flood", source_ip="127.0.0.3").count() == 1


@pytest.fixture(scope="module")
def overloaded_server(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server):
    """Kamailio accepting 50 REGISTERs a second in all (pike off: the flood comes from one address)."""
    protection = Protection(pike_density=0, register_rate_limit=50, retry_after=7)
    yield from _serving(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server, protection)


def test_register_flood_gets_503_with_retry_after(overloaded_server, transactional_db):
    config = overloaded_server.config
    hotline = HotlineFactory()
    overloaded_server.reload_domains()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    port = sock.getsockname()[1]
    sent = 300
    for n in range(sent):
        aor = f"sip:{100 + n % 50}@{hotline.sip_domain}"
        sock.sendto(
            (
                f"REGISTER sip:{hotline.sip_domain} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-reg{n};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <{aor}>;tag=r{n}\r\nTo: <{aor}>\r\n"
                f"Call-ID: reg-{n}@127.0.0.1\r\nCSeq: 1 REGISTER\r\n"
                f"Contact: <sip:x@127.0.0.1:{port}>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            (config.listen_ip, config.sip_port),
        )
        time.sleep(0.002)  # ~300/s, six times the limit, without overflowing socket buffers
    replies: list[str] = []
    try:
        while len(replies) < sent:
            replies.append(sock.recv(65535).decode(errors="replace"))
    except TimeoutError:
        pass
    sock.close()
    overloaded = [r for r in replies if r.startswith("SIP/2.0 503")]
    challenged = [r for r in replies if r.startswith("SIP/2.0 401")]
    assert overloaded and challenged, (len(overloaded), len(challenged), len(replies))
    assert all("\r\nRetry-After: 7\r\n" in r for r in overloaded)
    # (Nearly) every REGISTER got an answer rather than silence; on a loaded machine the
    # kernel may still drop a few datagrams of the burst.
    assert len(replies) >= sent * 0.95, len(replies)


def test_a_sipp_register_flood_is_answered_503_with_retry_after(
    overloaded_server, transactional_db, tmp_path
):
    """The same with SIPp as the phones: 300 REGISTERs at 300/s, six times the limit. Each is
    answered, with the challenge or with 503 carrying Retry-After (the scenario fails a call
    whose 503 lacks it, or that gets no answer)."""
    config = overloaded_server.config
    hotline = HotlineFactory.create()
    overloaded_server.reload_domains()
    phones = tmp_path / "phones.csv"
    phones.write_text("SEQUENTIAL\n" + "".join(f"{100 + n};{hotline.sip_domain}\n" for n in range(50)))
    stats = tmp_path / "stats.csv"
    sent = 300
    run = subprocess.run(  # noqa: S603 — our own command line
        [
            shutil.which("sipp") or "sipp",
            f"{config.listen_ip}:{config.sip_port}",
            "-sf",
            str(Path(__file__).parent / "sipp" / "register_flood.xml"),
            "-inf",
            str(phones),
            "-i",
            "127.0.0.1",
            "-p",
            str(free_sip_port()),
            "-r",
            str(sent),
            "-rp",
            "1000",
            "-m",
            str(sent),
            "-l",
            str(sent),
            "-recv_timeout",
            "4000",
            "-timeout",
            "40s",
            "-nostdin",
            "-trace_counts",
            "-trace_stat",
            "-stf",
            str(stats),
            "-fd",
            "1",
        ],  # fmt: skip
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    [counts_file] = tmp_path.glob("register_flood_*_counts.csv")
    [*_, counts] = csv.DictReader(counts_file.read_text().splitlines(), delimiter=";")
    [*_, last] = csv.DictReader(stats.read_text().splitlines(), delimiter=";")
    challenged, overloaded = int(counts["1_401_Recv"]), int(counts["2_503_Recv"])
    detail = (run.returncode, counts, {k: last[k] for k in ("SuccessfulCall(C)", "FailedCall(C)")})
    assert challenged > 0 and overloaded > 0, detail
    # Every REGISTER answered (SIPp retransmits after 500 ms, as a phone does), no 503 without
    # Retry-After: each of the 300 ended as a successful call.
    assert int(last["SuccessfulCall(C)"]) == sent and int(last["FailedCall(C)"]) == 0, detail
    assert challenged + overloaded == sent, detail


def test_dashboard_lists_the_locks_and_unblocks_them_audited(guarded, client, monkeypatch):
    from audit.models import AuditEvent
    from tests.factories import TenantFactory, make_admin

    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(guarded.config.runtime_dir))
    (target,), (extension,) = _extensions(guarded, "401")
    for _ in range(10):
        register(guarded, target, password=WRONG)
    assert register(guarded, target).status == 403

    stranger = make_admin(TenantFactory())
    client.force_login(stranger)
    page = client.get("/audit/sip-security/").content.decode()
    assert "127.0.0.1" not in page and target.domain not in page
    assert (
        client.post("/audit/sip-security/unblock/", {"kind": "address", "key": "127.0.0.1"}).status_code
        == 404
    )

    admin = make_admin(extension.hotline.tenant)
    client.force_login(admin)
    page = client.get("/audit/sip-security/").content.decode()
    assert f"401@{target.domain}" in page and "127.0.0.1" in page
    with translation.override("vi"):  # the dashboard's language; the recorded events
        assert str(SecurityEventKind.EXTENSION_LOCKED.label) in page
        assert str(SecurityEventKind.IP_BLOCKED.label) in page

    for kind, key in (("address", "127.0.0.1"), ("extension", f"401@{target.domain}")):
        response = client.post("/audit/sip-security/unblock/", {"kind": kind, "key": key})
        assert response.status_code == 302
    assert register(guarded, target).status == 200
    lifted = AuditEvent.objects.filter(action="sip_unblock", tenant_id=extension.hotline.tenant_id)
    assert sorted(e.object_repr for e in lifted) == sorted(["127.0.0.1", f"401@{target.domain}"])


@pytest.fixture(scope="module")
def patient_server(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server):
    """Kamailio with the production limits and locks long enough (2 minutes) that a slow test
    sees them all in force until it lifts them."""
    protection = Protection(
        auth_fail_limit=10,
        extension_fail_limit=10,
        ip_block_seconds=120,
        extension_lock_seconds=120,
        pike_density=0,
        register_rate_limit=0,
    )
    yield from _serving(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server, protection)


@pytest.fixture
def patient(patient_server, transactional_db, settings, monkeypatch):
    """The long-lock Kamailio, cleared, and the one the dashboard asks (its control socket)."""
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(patient_server.config.runtime_dir))
    return _cleared(patient_server, settings)


def test_the_api_lists_the_locks_and_unblocks_them_audited_as_the_page_does(patient):
    from audit.models import AuditEvent
    from tests.api import api_client
    from tests.factories import TenantFactory, make_admin, make_agent

    (target,), (extension,) = _extensions(patient, "401")
    for _ in range(10):
        register(patient, target, password=WRONG)
    assert register(patient, target).status == 403
    address_id, extension_id = "address:127.0.0.1", f"extension:401@{target.domain}"

    admin = api_client(make_admin(extension.hotline.tenant))
    body = admin.get("/api/v1/sip-locks/").json()
    assert body["readable"] is True
    locks = {lock["id"]: lock for lock in body["results"]}
    assert set(locks) == {address_id, extension_id}
    address, locked = locks[address_id], locks[extension_id]
    assert (address["kind"], address["key"], address["extension"]) == ("address", "127.0.0.1", None)
    assert address["sip_reply"] == "403 Blocked: too many failed logins from this address"
    assert address["reason"].startswith("Too many failed logins from this address")
    assert locked["extension"] == {"id": extension.pk, "number": "401", "domain": target.domain}
    assert (locked["kind"], locked["key"]) == ("extension", f"401@{target.domain}")
    assert locked["sip_reply"] == "403 Extension locked: too many wrong passwords"
    for lock in (address, locked):
        assert 60 < lock["remaining"] <= 120, lock
        until = dt.datetime.fromisoformat(lock["until"])
        assert abs((until - timezone.now()).total_seconds() - lock["remaining"]) < 5
    admin.cookies["django_language"] = "vi"
    in_vietnamese = {
        lock["kind"]: lock["reason"] for lock in admin.get("/api/v1/sip-locks/").json()["results"]
    }
    assert in_vietnamese["address"].startswith("Đăng nhập thất bại từ địa chỉ này quá nhiều lần")
    assert in_vietnamese["extension"].startswith("Nhập sai mật khẩu của máy lẻ này quá nhiều lần")
    admin.cookies["django_language"] = "en"

    events = admin.get("/api/v1/security-events/", {"kind": "extension_locked"}).json()
    assert events["count"] == 1
    [event] = events["results"]
    assert (event["number"], event["domain"], event["extension"], event["failures"]) == (
        "401",
        target.domain,
        extension.pk,
        10,
    )
    assert event["released_at"] is None
    assert admin.get("/api/v1/security-events/", {"source_ip": "127.0.0.1"}).json()["count"] == 2

    # Another tenant's admin sees none of it and lifts nothing; an agent may not ask at all.
    stranger = api_client(make_admin(TenantFactory()))
    listed = stranger.get("/api/v1/sip-locks/")
    assert listed.json() == {"readable": True, "results": []}
    assert stranger.get("/api/v1/security-events/").json()["count"] == 0
    assert stranger.get(f"/api/v1/security-events/{event['id']}/").status_code == 404
    for lock_id in (address_id, extension_id):
        response = stranger.post(f"/api/v1/sip-locks/{lock_id}/unblock/")
        assert response.status_code == 404, response.content
        assert target.domain not in response.content.decode()
    agent = api_client(make_agent(extension.hotline.tenant, extension))
    assert agent.get("/api/v1/sip-locks/").status_code == 403
    assert agent.get("/api/v1/security-events/").status_code == 403
    assert agent.post(f"/api/v1/sip-locks/{extension_id}/unblock/").status_code == 403
    assert register(patient, target, source="127.0.0.2").status == 403  # still locked
    assert not AuditEvent.objects.filter(action="sip_unblock").exists()

    # Ids of no lock in force among the admin's: 404.
    for lock_id in (
        "nonsense",
        "bogus:127.0.0.1",
        "address:",
        "address:10.9.9.9",
        f"extension:402@{target.domain}",
    ):
        assert admin.post(f"/api/v1/sip-locks/{lock_id}/unblock/").status_code == 404, lock_id

    for lock_id in (address_id, extension_id):
        response = admin.post(f"/api/v1/sip-locks/{lock_id}/unblock/")
        assert response.status_code == 200, response.content
        assert response.json()["id"] == lock_id
    assert register(patient, target).status == 200
    assert admin.get("/api/v1/sip-locks/").json() == {"readable": True, "results": []}
    assert admin.post(f"/api/v1/sip-locks/{address_id}/unblock/").status_code == 404  # lifted already
    lifted = AuditEvent.objects.filter(action="sip_unblock", tenant_id=extension.hotline.tenant_id)
    assert sorted(e.object_repr for e in lifted) == sorted(["127.0.0.1", f"401@{target.domain}"])
    assert all(e.actor_label and set(e.changes) == {"lock", "until"} for e in lifted)
    released = admin.get("/api/v1/security-events/").json()["results"]
    assert len(released) == 2 and all(e["released_at"] for e in released)


def test_dial_check_gives_the_lock_and_kamailio_refuses_the_invite_with_it(guarded):
    from sip.dialcheck import dial_check

    (info,), (extension,) = _extensions(guarded, "501")
    config = guarded.config
    # Before: unlocked, and the check goes on to the dial rules (an extension number).
    before = dial_check(extension=extension, dialled="501", kamailio_config=config)
    assert (before.lock_state, before.decided_by) == ("unlocked", "")

    for _ in range(10):  # wrong passwords from another address: the extension is locked
        register(guarded, info, password=WRONG, source="127.0.0.4")
    check = dial_check(extension=extension, dialled="0912345678", kamailio_config=config)
    assert (check.outcome, check.decided_by, check.lock_state) == ("denied", "lock", "locked")
    assert check.sip_reply == "403 Extension locked: too many wrong passwords"
    assert "locked after too many wrong passwords" in check.reason
    assert check.summary.startswith("Extension 501 cannot call anyone now: it is locked")
    with translation.override("vi"):
        assert check.reason != "" and "wrong passwords" not in check.reason
        assert "wrong passwords" not in check.summary

    with SipClient(config.listen_ip, config.sip_port) as phone:
        refused = phone.invite(
            number="0912345678", domain=info.domain, username=info.username, password=info.password
        )
    assert f"{refused.status} {refused.response.reason}" == check.sip_reply

    # A check for another moment does not read the lock.
    later = dial_check(
        extension=extension, dialled="501", at=timezone.now() + dt.timedelta(hours=1), kamailio_config=config
    )
    assert (later.lock_state, later.decided_by) == ("", "")


def test_dial_check_says_the_lock_state_is_unknown_without_kamailio(transactional_db, tmp_path):
    from sip.dialcheck import dial_check

    hotline = HotlineFactory()
    extension = make_extension(hotline, "601", "user601")
    config = KamailioConfig(db_url="", runtime_dir=tmp_path)  # no control socket there
    check = dial_check(extension=extension, dialled="601", kamailio_config=config)
    assert (check.lock_state, check.decided_by) == ("unknown", "")
