"""Several Kamailio nodes as one SIP service (kamailio.cfg WITH_CLUSTER, sip.cluster): real nodes
on 127.0.0.2, 127.0.0.3 (and 127.0.0.4 joining later), free ports, each with its own rtpengine,
all on the test database as Kamailio's restricted role.

A phone registered on one node is reached by a call entering another (over the node holding its
connection, along the Path it registered with), the call anchored once, at the relay of the node
it entered; `location` holds each registration once; stopping a node loses no registration on
the others; a node starting later receives them; a lock made on one node refuses on another; the
dashboard's reloads, removals and lock reads reach every node; a supervisor on one node hears an
agent's call anchored at another's relay (`*33`, each node's listen service)."""

from __future__ import annotations

import dataclasses
import io
import re
import secrets
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from dialplan.testing import install_vietnam_rules
from extensions.choices import CallPermission
from extensions.services import extension_reveal_credentials, extension_update
from sip.cluster import ClusterNode, KamailioCluster
from sip.controls import call_counters
from sip.kamailio import ClusterMembership, KamailioConfig, KamailioError, Protection, db_url_for, rpc_each
from sip.listen import BARGE_REASON, WHISPER_REASON
from sip.models import Location
from sip.protection import sip_lock_release, sip_locks
from sip.services import sip_dialplan_reload, sip_domains_reload
from sip.sipclient import Call, SipClient, parse_response
from tests.factories import HotlineFactory, make_extension

from .media import Baresip, sdp_addresses, sdp_profile, write_tone
from .test_media import assert_freed
from .test_supervision import AGENT_HZ, CUSTOMER_HZ, SUPERVISOR_HZ, listeners, shares
from .uas import parse_request, response_for

pytestmark = pytest.mark.sip

ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
WRONG = "Wrong-Password-123"
# Locks on, short and after few failures; no address block (every phone here is 127.0.0.1) and
# no flood or overload limits (the tests send bursts from one address).
PROTECTION = Protection(
    auth_fail_limit=100000,
    extension_fail_limit=3,
    extension_lock_seconds=60,
    pike_density=0,
    register_rate_limit=0,
)


@pytest.fixture(scope="module")
def cluster_server(kamailio_role, django_db_blocker, tmp_path_factory, gateway_server):
    """Two nodes running, a third defined (started by the test of a node joining later)."""
    with django_db_blocker.unblock():
        db_url = db_url_for(connection.settings_dict, user=kamailio_role, password="")
    base = KamailioConfig(
        db_url=db_url,
        # One worker per socket: every Kamailio process holds its own database connections, and
        # three nodes share the server with the rest of the suite.
        children=1,
        # Only the dashboard's reloads (to every node) pick up new hotlines here.
        domain_reload_seconds=3600,
        dialplan_reload_delta=0,
        gateway_uri=gateway_server.uri,
        protection=PROTECTION,
    )
    cluster = KamailioCluster(
        base,
        addresses=ADDRESSES,
        runtime_dir=tmp_path_factory.mktemp("cluster"),
        relay_options={"delete_delay": 0},
    )
    cluster.start(count=2)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(cluster_server, transactional_db, settings):
    """The running nodes, the dashboard pointed at all three (one not running yet)."""
    settings.SIP_CLUSTER_CTL_SOCKETS = cluster_server.controls
    for node in cluster_server.nodes[:2]:
        if not node.running:  # a test stopped it and failed before starting it again
            cluster_server.start_node(node)
        for table in ("authfail", "extlock"):
            node.kamailio.rpc("htable.flush", table)
    return cluster_server


@pytest.fixture
def hotline(cluster):
    hotline = HotlineFactory()
    # The seeded dial rules (internal calls among them): another module's transactional test
    # may have flushed the ones the migrations installed.
    install_vietnam_rules()
    # The dashboard's reloads reach every running node.
    assert sip_domains_reload() and sip_dialplan_reload()
    return hotline


def login(hotline, number: str):
    return extension_reveal_credentials(extension=make_extension(hotline, number, f"user{number}"))


def phone(node: ClusterNode, transport: str = "udp") -> SipClient:
    config = node.config
    if transport == "ws":
        return SipClient(config.listen_ip, config.ws_port, transport="ws", ws_path=config.ws_path)
    return SipClient(config.listen_ip, config.sip_port, transport=transport)


def register(client: SipClient, info, **kwargs) -> int:
    return client.register(
        username=info.username, domain=info.domain, password=info.password, **kwargs
    ).status


def aor(info) -> str:
    return f"{info.username}@{info.domain}"


def node_contacts(node: ClusterNode, info) -> list[str]:
    """The contacts the node holds in memory for the extension (`ul.lookup`)."""
    try:
        output = node.kamailio.rpc("ul.lookup", "location", aor(info))
    except Exception:  # noqa: BLE001 — "404 AOR not found"
        return []
    return re.findall(r"Address:\s*(\S+)", output)


def counted(node: ClusterNode, key: str) -> bool:
    """Whether the node's `calls` htable holds the key."""
    try:
        return "value" in node.kamailio.rpc("htable.get", "calls", key)
    except KamailioError:  # "500 - Key name doesn't exist in htable."
        return False


def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def rows(info) -> list[Location]:
    return list(Location.objects.filter(username=info.username, domain=info.domain))


def offer(address: str) -> str:
    """A plain RTP phone's SDP offer (PCMU)."""
    session = secrets.randbelow(10**9)
    return (
        f"v=0\r\no=- {session} 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )


def invite(client: SipClient, info, number: str, **kwargs) -> Call:
    """`number` called from `client` as the extension with this login info."""
    return client.invite(
        number=number, domain=info.domain, username=info.username, password=info.password, **kwargs
    )


def register_on(node: ClusterNode, *infos) -> None:
    """Each extension registered once on the node (UDP)."""
    with phone(node) as client:
        for info in infos:
            assert register(client, info) == 200


def next_request(client: SipClient, method: str, timeout: float = 5.0) -> bytes:
    """The next request of that method the phone receives (retransmissions and others skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.receive(timeout=max(0.1, deadline - time.monotonic()))
        if data.startswith(f"{method} ".encode()):
            return data
    raise AssertionError(f"No {method} within {timeout}s")


def body(message: bytes) -> str:
    return message.decode().partition("\r\n\r\n")[2]


# --- A call crossing two nodes ----------------------------------------------------------------


def test_a_call_entering_one_node_reaches_a_tcp_phone_on_another_and_is_anchored_once(cluster, hotline):
    node_a, node_b = cluster.nodes[:2]
    callee, caller = login(hotline, "102"), login(hotline, "101")
    with phone(node_a, "tcp") as desk, phone(node_b, "udp") as softphone, ThreadPoolExecutor(1) as pool:
        assert register(desk, callee) == 200  # its TCP connection: to node A only
        assert register(softphone, caller) == 200

        # One row per registration, written by the node that took it; every node has both.
        assert wait_until(lambda: node_contacts(node_b, callee) and node_contacts(node_a, caller))
        # A refresh is written by node A alone too: node B's copy (no socket of its own) is not.
        assert register(desk, callee) == 200
        time.sleep(0.5)
        [row] = rows(callee)
        assert (row.server_id, row.socket) == (1, f"tcp:{node_a.address}:{node_a.ports.sip}")
        assert (row.path or "").startswith(f"<sip:{node_a.address}:{node_a.ports.sip};lr;received=")
        assert [r.server_id for r in rows(caller)] == [2]

        ringing = pool.submit(invite, softphone, caller, "102", sdp=offer("127.0.0.1"), hangup=False)
        received = next_request(desk, "INVITE")
        # Through node A (the connection it holds), with node B's relay in the SDP.
        assert f"Record-Route: <sip:{node_a.address}:{node_a.ports.sip};".encode() in received
        assert sdp_addresses(body(received)) == {node_b.address}
        contact = f"sip:102@127.0.0.1:{desk.local_port};transport=tcp"
        answered = response_for(received, 200, contact=contact, sdp=offer("127.0.0.1"))
        desk.send(answered)
        call = ringing.result(timeout=10)
        assert call.status == 200
        assert sdp_addresses(call.response.body) == {node_b.address}
        next_request(desk, "ACK")

        # Anchored once: at the relay of the node the call entered, none at the other.
        call_id = call.call_id
        assert call_id in node_b.relay.calls()
        assert node_a.relay.calls() == []

        # The callee hangs up: its BYE goes over its connection to A, then B, then the caller.
        request = parse_request(received)
        assert request is not None
        callee_side = Call(
            response=parse_response(answered),
            request_uri=call.request_uri,
            from_header=parse_response(answered).header("to") or "",
            call_id=call_id,
            cseq=0,
            to_header=request.header("from") or "",
            route_set=[r.strip() for v in request.headers.get("record-route", []) for r in v.split(",")],
            remote_target=f"sip:101@127.0.0.1:{softphone.local_port}",
        )
        hanging_up = pool.submit(desk.bye, callee_side)
        bye = next_request(softphone, "BYE")
        softphone.send(response_for(bye, 200))
        assert hanging_up.result(timeout=10).status == 200
        assert wait_until(lambda: call_id not in node_b.relay.calls())

        # The other way: the desk phone calls through node A, which anchors it (node B relays).
        ringing = pool.submit(invite, desk, callee, "101", sdp=offer("127.0.0.1"))
        received = next_request(softphone, "INVITE")
        assert sdp_addresses(body(received)) == {node_a.address}
        assert (len(node_a.relay.calls()), node_b.relay.calls()) == (1, [])
        softphone.send(response_for(received, 486))
        assert ringing.result(timeout=10).status == 486


def test_a_call_entering_one_node_reaches_a_websocket_phone_on_another(cluster, hotline):
    node_a, node_b = cluster.nodes[:2]
    browser_user, caller = login(hotline, "202"), login(hotline, "201")
    with phone(node_a, "ws") as browser, ThreadPoolExecutor(1) as pool:
        assert register(browser, browser_user) == 200
        assert wait_until(lambda: node_contacts(node_b, browser_user))
        with phone(node_b) as softphone:
            ringing = pool.submit(invite, softphone, caller, "202", sdp=offer("127.0.0.1"))
            received = next_request(browser, "INVITE")
            # Node B's relay offers WebRTC (the phone behind node A is on WebSocket).
            assert sdp_profile(body(received)) == "UDP/TLS/RTP/SAVPF"
            assert sdp_addresses(body(received)) == {node_b.address}
            browser.send(response_for(received, 486))
            assert ringing.result(timeout=10).status == 486
        assert node_a.relay.calls() == []


# --- Supervision across nodes ----------------------------------------------------------------------


def test_a_supervisor_on_one_node_hears_an_agents_call_anchored_at_another(cluster, hotline, tmp_path):
    """Supervisor 800 on node A dials *33801; agent 801 (on node B) called customer 804 (on node
    A) through node B, so the call is anchored at node B's relay and its dialog is node B's. Node
    A's listen service finds it there and subscribes at node B's relay; the mix reaches the
    supervisor through node A's relay. With real softphones, by the tones each plays."""
    node_a, node_b = cluster.nodes[:2]
    boss = make_extension(hotline, "800", "boss800", call_permission=CallPermission.INTERNAL)
    extensions = {
        "800": boss,
        "801": make_extension(hotline, "801", "sale801", supervisor=boss),
        "804": make_extension(hotline, "804", "khach804"),
    }

    def on(node: ClusterNode, number: str):
        info = extension_reveal_credentials(extension=extensions[number])
        return dataclasses.replace(info, proxy=f"{node.address}:{node.ports.sip}")

    tones = {hz: write_tone(tmp_path / f"{hz}.wav", hz) for hz in (AGENT_HZ, CUSTOMER_HZ, SUPERVISOR_HZ)}
    with (
        Baresip(on(node_b, "801"), tmp_path / "agent", tones[AGENT_HZ]) as agent,
        Baresip(on(node_a, "804"), tmp_path / "customer", tones[CUSTOMER_HZ]) as customer,
        Baresip(on(node_a, "800"), tmp_path / "supervisor", tones[SUPERVISOR_HZ]) as supervisor,
    ):
        assert wait_until(lambda: node_contacts(node_b, on(node_a, "804")))
        # No call yet, on any node: nothing to listen to.
        supervisor.dial("*33801")
        assert supervisor.wait_event("CALL_CLOSED")["param"] == "480 No call to listen to"

        agent.dial("804")
        call_id = agent.wait_event("CALL_ESTABLISHED")["id"]
        customer.wait_event("CALL_ESTABLISHED")
        assert call_id in node_b.relay.calls()
        assert call_id not in node_a.relay.calls()
        # Whisper and barge: what one node answers (the relay cannot mix), not a 503.
        supervisor.dial("*34801")
        assert supervisor.wait_event("CALL_CLOSED")["param"] == f"501 {WHISPER_REASON}"
        supervisor.dial("*35801")
        assert supervisor.wait_event("CALL_CLOSED")["param"] == f"501 {BARGE_REASON}"

        supervisor.dial("*33801")
        listening = supervisor.wait_event("CALL_ESTABLISHED")["id"]
        # The supervisor's leg at node A's relay; the copy of the agent's call at node B's.
        assert listening in node_a.relay.calls()
        assert len(listeners(node_b.relay, call_id)) == 1
        time.sleep(3.7)
        # The customer hangs up (its BYE through node A to node B): node A's listen service sees
        # the call gone from node B and hangs up on the supervisor.
        customer.hangup()
        agent.wait_event("CALL_CLOSED")
        supervisor.wait_event("CALL_CLOSED", timeout=5)

    heard_by_supervisor = shares(supervisor.recording("dec"), (AGENT_HZ, CUSTOMER_HZ, SUPERVISOR_HZ))
    assert heard_by_supervisor[AGENT_HZ] > 0.3, heard_by_supervisor
    assert heard_by_supervisor[CUSTOMER_HZ] > 0.3, heard_by_supervisor
    assert heard_by_supervisor[SUPERVISOR_HZ] < 0.05, heard_by_supervisor
    assert_freed(node_b.relay, call_id)
    assert_freed(node_a.relay, listening)


# --- Nodes stopping and joining ----------------------------------------------------------------


def test_stopping_a_node_loses_no_registration_on_the_others(cluster, hotline):
    node_a, node_b = cluster.nodes[:2]
    on_a, on_b = login(hotline, "301"), login(hotline, "302")
    register_on(node_a, on_a)
    register_on(node_b, on_b)
    assert wait_until(lambda: node_contacts(node_b, on_a))

    cluster.stop_node(node_a)
    try:
        time.sleep(1)
        assert node_contacts(node_b, on_a) and node_contacts(node_b, on_b)
        assert len(rows(on_a)) == 1  # the dashboard still shows it online
    finally:
        cluster.start_node(node_a)
    # Back, node A has its own registration (from the table) and node B's (from node B).
    assert wait_until(lambda: node_contacts(node_a, on_a) and node_contacts(node_a, on_b))
    assert [len(rows(on_a)), len(rows(on_b))] == [1, 1]


def test_a_node_joining_later_receives_the_registrations(cluster, hotline):
    node_a, node_b, node_c = cluster.nodes
    on_a, on_b = login(hotline, "401"), login(hotline, "402")
    register_on(node_a, on_a)
    register_on(node_b, on_b)
    cluster.start_node(node_c)
    try:
        # node C loads only its own rows from the table: these came from the running nodes.
        assert wait_until(lambda: node_contacts(node_c, on_a) and node_contacts(node_c, on_b))
        assert [len(rows(on_a)), len(rows(on_b))] == [1, 1]  # and it wrote no copy
    finally:
        cluster.stop_node(node_c)


# --- Shared locks and the dashboard --------------------------------------------------------------


def test_a_lock_made_on_one_node_refuses_on_another_and_is_lifted_on_all(cluster, hotline):
    node_a, node_b = cluster.nodes[:2]
    target = login(hotline, "501")
    with phone(node_a) as attacker:
        for _ in range(PROTECTION.extension_fail_limit):
            assert attacker.register(username="501", domain=target.domain, password=WRONG).status == 403

    with phone(node_b) as owner:
        assert wait_until(lambda: register(owner, target) == 403)
        refused = owner.register(username="501", domain=target.domain, password=target.password)
        assert (refused.status, refused.reason) == (403, "Extension locked: too many wrong passwords")

        # The dashboard lists it once (every node holds it) and lifts it on every node.
        [lock] = [lock for lock in sip_locks() if lock.key == aor(target)]
        sip_lock_release(lock=lock, tenant_id=hotline.tenant_id)
        assert register(owner, target) == 200
    with phone(node_a) as desk:
        assert register(desk, target) == 200


def test_disabling_an_extension_drops_its_registration_on_every_node(cluster, hotline):
    node_a, node_b = cluster.nodes[:2]
    info = login(hotline, "601")
    register_on(node_a, info)
    assert wait_until(lambda: node_contacts(node_b, info))

    # The signal after the commit sends `ul.rm` to every node (sip.services).
    extension_update(extension=hotline.extensions.get(number="601"), data={"enabled": False})
    assert wait_until(lambda: not node_contacts(node_a, info) and not node_contacts(node_b, info))
    assert rows(info) == []


def test_a_call_limit_reached_on_one_node_refuses_on_another(cluster, hotline, gateway_server):
    node_a, node_b = cluster.nodes[:2]
    install_vietnam_rules()
    assert sip_dialplan_reload()  # to every node
    gateway_server.clear()
    gateway_server.answer = 486
    extension = make_extension(hotline, "701", "user701", max_calls_per_minute=1)
    info = extension_reveal_credentials(extension=extension)

    def call(node: ClusterNode) -> Call:
        with phone(node) as softphone:
            return invite(softphone, info, "0912345678")

    assert call(node_a).status == 486  # through the gateway, counted on node A…
    assert len(gateway_server.invites) == 1
    # …and on node B, where the next call is refused; the dashboard reads it from both.
    assert wait_until(lambda: counted(node_b, f"m{extension.pk}"))
    refused = call(node_b)
    assert (refused.status, refused.response.reason) == (403, "Call limit: 1 calls per minute")
    assert len(gateway_server.invites) == 1
    assert call_counters(extension=extension).last_minute == 1


# --- make sip-cluster ------------------------------------------------------------------------------


def test_run_kamailio_cluster_check_names_every_node_and_their_control_sockets(tmp_path, monkeypatch):
    """`make sip-cluster` (`run_kamailio --cluster 3 --check`): the nodes on 127.0.0.2–4 with
    the ports of the login info, DMQ on 5070, and the setting that points the dashboard at all."""
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(tmp_path))
    out = io.StringIO()
    call_command("run_kamailio", "--cluster", "3", "--check", stdout=out)
    text = out.getvalue()
    for node, address in enumerate(["127.0.0.2", "127.0.0.3", "127.0.0.4"], start=1):
        assert f"node {node}: SIP udp+tcp {address}:5060, WebSocket ws://{address}:8088/ws" in text
        assert f"rtpengine udp:{address}:2223" in text
    assert "(DMQ on port 5070)" in text
    controls = ",".join(f"unix:{tmp_path}/cluster/node{n}/kamailio_ctl" for n in (1, 2, 3))
    assert f"SIP_CLUSTER_CTL_SOCKETS={controls}" in text

    monkeypatch.setenv("SIP_CLUSTER_ADDRESSES", "10.0.0.11,10.0.0.12")
    with pytest.raises(CommandError, match="names 2 addresses for 3 nodes"):
        call_command("run_kamailio", "--cluster", "3", "--check", stdout=io.StringIO())


def test_a_node_replicates_only_the_shared_htables_and_keeps_dmq_off_its_sip_ports(tmp_path):
    membership = ClusterMembership(node_id=2, dmq_port=5070, seed="127.0.0.2:5070", network=("127.0.0.3/32",))
    url = "postgres://k@db/pbx"
    config = KamailioConfig(
        db_url=url,
        listen_ip="127.0.0.3",
        cluster=membership,
        ctl_listen="tcp:10.0.0.12:2049",
    )
    defines = config.all_defines()
    assert defines["CLUSTER_NODE_ID"] == "2"
    assert defines["DMQ_SERVER"] == '"sip:127.0.0.3:5070"'
    assert defines["CLUSTER_PATH"] == '"sip:127.0.0.3:5060;lr"'
    assert defines["CTL_LISTEN"] == '"tcp:10.0.0.12:2049"'
    for name in ("HT_CALLS", "HT_AUTHFAIL", "HT_IPBAN", "HT_EXTLOCK"):
        assert str(defines[name]).endswith(';dmqreplicate=1;"'), name
    # One Kamailio alone: nothing of the cluster.
    alone = KamailioConfig(url).all_defines()
    assert not {"WITH_CLUSTER", "HT_CALLS", "CTL_LISTEN"} & set(alone)
    assert "dmqreplicate" not in str(alone)

    clash = KamailioConfig(
        db_url="postgres://k@db/pbx", cluster=dataclasses.replace(membership, dmq_port=8088)
    )
    with pytest.raises(KamailioError, match="DMQ port 8088"):
        clash.all_defines()

    # The dashboard skips a node that is not running, and says so.
    [answer] = rpc_each("core.version", config=KamailioConfig(db_url="", runtime_dir=tmp_path))
    assert (answer.ok, answer.error) == (False, f"No Kamailio control socket at {tmp_path / 'kamailio_ctl'}")


# --- The dashboard's /metrics --------------------------------------------------------------------


def test_metrics_label_each_node_and_a_silent_node_is_down_at_once(cluster, hotline, client, settings):
    """GET /metrics reads every node's statistics, each labelled with its `node`: two running,
    one defined but stopped, and one whose control socket takes requests and never answers (a
    hung node): 200 within the short timeout, those two reported down."""
    node_a, node_b, node_c = cluster.nodes

    def scrape() -> dict:
        started = time.monotonic()
        response = client.get(reverse("metrics"), REMOTE_ADDR="127.0.0.1")
        assert response.status_code == 200, response.content
        assert time.monotonic() - started < 5  # the hung node costs its 2 s, once
        text = response.content.decode()
        return {family.name: family for family in text_string_to_metric_families(text)}

    def by_node(families: dict, name: str) -> dict[str, float]:
        return {sample.labels["node"]: sample.value for sample in families[name].samples}

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hung:
        hung.bind(("127.0.0.1", 0))
        silent = f"udp:127.0.0.1:{hung.getsockname()[1]}"
        settings.SIP_CLUSTER_CTL_SOCKETS = [*cluster.controls, silent]
        before = scrape()
        register_on(node_a, login(hotline, "901"))
        after = scrape()

    up = {node_a.control: 1, node_b.control: 1, node_c.control: 0, silent: 0}
    assert by_node(after, "pbx_kamailio_up") == up
    # Each running node's own counters under its own label: the REGISTERs went to node A only.
    registers = "kamailio_core_rcv_requests_register"
    assert set(by_node(after, registers)) == {node_a.control, node_b.control}
    assert by_node(after, registers)[node_a.control] > by_node(before, registers)[node_a.control]
    assert by_node(after, registers)[node_b.control] == by_node(before, registers)[node_b.control]
    assert set(by_node(after, "pbx_calls_active")) == {node_a.control, node_b.control}
