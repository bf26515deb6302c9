"""Presence that does not lie, through a real Kamailio: a contact goes the moment its
connection closes, a call to a contact that cannot be reached is 480 (never a server error),
UDP phones behind a NAT are reached at their public address and kept alive, and the API shows
what `location` holds."""

import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from extensions.services import extension_reveal_credentials
from sip.kamailio import Kamailio, free_port
from sip.models import Location
from sip.selectors import contacts_for
from sip.services import sip_registrations_remove
from sip.sipclient import SipClient
from tests.api import api_client
from tests.factories import HotlineFactory, make_admin, make_extension

from .uas import response_for

pytestmark = pytest.mark.sip


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition()` held, polling; fails the test after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - start


def phone(kamailio: Kamailio, transport: str, **kwargs) -> SipClient:
    """A softphone connecting to this Kamailio over `transport` (TLS ones check its certificate)."""
    config = kamailio.config
    port = {
        "udp": config.sip_port,
        "tcp": config.sip_port,
        "tls": config.sips_port,
        "ws": config.ws_port,
        "wss": config.wss_port,
    }[transport]
    cafile = str(config.tls_cert_file) if transport in ("tls", "wss") else None
    return SipClient(
        config.listen_ip, port, transport=transport, cafile=cafile, ws_path=config.ws_path, **kwargs
    )


def register(client: SipClient, info, **kwargs) -> None:
    response = client.register(username=info.username, domain=info.domain, password=info.password, **kwargs)
    assert response.status == 200


@pytest.fixture
def hotline(kamailio):
    hotline = HotlineFactory()
    kamailio.reload_domains()
    return hotline


@pytest.fixture
def callee(kamailio, hotline):
    extension = make_extension(hotline, "102", "kd01")
    yield extension
    # Kamailio keeps registrations in memory: sign out, or a later 102 rings here.
    sip_registrations_remove(extension=extension, config=kamailio.config)


def sources(extension) -> list[tuple[str, str]]:
    return sorted((c.transport, c.source) for c in contacts_for(extension))


@pytest.mark.parametrize("transport", ["tcp", "tls", "ws", "wss"])
def test_a_closed_connection_takes_its_contacts_at_once(kamailio, callee, transport):
    info = extension_reveal_credentials(extension=callee)
    with phone(kamailio, "udp") as desk:
        register(desk, info)
        desk_source = ("udp", f"127.0.0.1:{desk.local_port}")
        with phone(kamailio, transport) as softphone:
            register(softphone, info)
            mine = (transport, f"127.0.0.1:{softphone.local_port}")
            assert sources(callee) == sorted([desk_source, mine])

        # The connection is closed: its contact goes, the UDP phone's stays.
        elapsed = wait_until(lambda: sources(callee) == [desk_source], timeout=2)
    assert elapsed < 2


def test_a_phone_that_registered_again_over_a_new_connection_stays(kamailio, callee):
    """JsSIP keeps its contact when it reconnects: the old connection closing after the
    REGISTER over the new one must not take the contact away."""
    info = extension_reveal_credentials(extension=callee)
    old, new = phone(kamailio, "ws"), phone(kamailio, "ws")
    new.ws_host = old.ws_host  # the same contact URI
    with old:
        register(old, info)
        with new:
            register(new, info)
            old.close()
            time.sleep(0.5)  # ten turns of the timer that removes closed connections' contacts
            assert sources(callee) == [("ws", f"127.0.0.1:{new.local_port}")]
        wait_until(lambda: contacts_for(callee) == [], timeout=2)


@pytest.mark.parametrize("transport", ["ws", "tcp"])
def test_a_call_to_a_contact_whose_connection_is_gone_is_480_not_500(
    kamailio, dial_rules, hotline, callee, transport
):
    """A registration whose connection is gone (a browser that went away without Kamailio
    noticing, a node restarted): the call is answered 480 at once, not 500 as
    sl_reply_error() did."""
    caller = make_extension(hotline, "101", "sale01")
    caller_info = extension_reveal_credentials(extension=caller)
    config = kamailio.config
    gone = free_port()  # nothing listens there
    host = "a1b2c3.invalid" if transport == "ws" else f"127.0.0.1:{gone}"
    kamailio.rpc(
        "ul.add", "location", f"102@{hotline.sip_domain}", f"sip:102@{host};transport={transport}",
        "300", "1.0", ".", "0", "0", "8191",
        f"sip:127.0.0.1:{gone};transport={transport}",
        f"tcp:{config.listen_ip}:{config.ws_port if transport == 'ws' else config.sip_port}",
    )  # fmt: skip
    assert [c.transport for c in contacts_for(callee)] == [transport]

    with phone(kamailio, "udp") as desk:
        start = time.monotonic()
        call = desk.invite(
            number="102", domain=caller_info.domain, username="101", password=caller_info.password
        )
    assert (call.status, call.response.reason) == (480, "Temporarily Unavailable")
    assert time.monotonic() - start < 2


def test_a_udp_phone_behind_a_nat_is_reached_at_its_public_address_and_kept_alive(
    kamailio, dial_rules, hotline, callee
):
    caller_info = extension_reveal_credentials(extension=make_extension(hotline, "101", "sale01"))
    info = extension_reveal_credentials(extension=callee)
    # The phone knows only its private address; the NAT maps it to 127.0.0.1:<port>.
    with phone(kamailio, "udp", advertised_address="192.168.1.50:5060") as natted:
        register(natted, info)
        row = Location.objects.get(username="102", domain=hotline.sip_domain)
        assert row.contact == "sip:102@192.168.1.50:5060"
        assert row.received == f"sip:127.0.0.1:{natted.local_port}"

        # Keep-alives come to the public address every NATPING_INTERVAL (1 s in the tests).
        ping = natted.receive(timeout=2.5)
        assert ping.startswith(b"OPTIONS sip:102@192.168.1.50:5060 SIP/2.0")

        # So do calls.
        with ThreadPoolExecutor(max_workers=1) as pool, phone(kamailio, "udp") as desk:
            ringing = pool.submit(
                desk.invite, number="102", domain=info.domain, username="101", password=caller_info.password
            )
            invite = natted.receive(timeout=3)
            while not invite.startswith(b"INVITE "):
                invite = natted.receive(timeout=3)  # that was another keep-alive
            natted.send(response_for(invite, 486))
            assert ringing.result(timeout=5).status == 486
        assert invite.startswith(b"INVITE sip:102@192.168.1.50:5060 SIP/2.0")

    # A phone that is not behind a NAT gets no keep-alives.
    with phone(kamailio, "udp") as direct:
        register(direct, info)
        with pytest.raises(TimeoutError):
            direct.receive(timeout=2.5)


def test_the_api_shows_registration_status(kamailio, hotline, callee):
    admin = make_admin(hotline.tenant)
    offline = make_extension(hotline, "103", "kd03")
    client = api_client(admin)
    info = extension_reveal_credentials(extension=callee)

    def detail(extension) -> dict:
        response = client.get(f"/api/v1/extensions/{extension.pk}/")
        assert response.status_code == 200
        return response.json()

    def listed() -> dict[int, dict]:
        response = client.get(f"/api/v1/extensions/?hotline={hotline.pk}")
        assert response.status_code == 200
        return {item["id"]: item for item in response.json()["results"]}

    with phone(kamailio, "udp") as desk, phone(kamailio, "ws") as browser:
        register(desk, info)
        register(browser, info, user_agent="JsSIP 3.10.1")
        item = detail(callee)
        assert item["online"] is True
        assert sorted((c["transport"], c["user_agent"], c["source"]) for c in item["contacts"]) == [
            ("udp", "pbx-sipclient/1.0", f"127.0.0.1:{desk.local_port}"),
            ("ws", "JsSIP 3.10.1", f"127.0.0.1:{browser.local_port}"),
        ]
        for contact in item["contacts"]:
            expires_at = dt.datetime.fromisoformat(contact["expires_at"])
            assert expires_at.utcoffset() is not None
            assert 250 < (expires_at - dt.datetime.now(dt.UTC)).total_seconds() <= 301
        items = listed()
        assert items[callee.pk]["online"] is True
        assert items[callee.pk]["contacts"] == item["contacts"]
        assert (items[offline.pk]["online"], items[offline.pk]["contacts"]) == (False, [])
        assert (detail(offline)["online"], detail(offline)["contacts"]) == (False, [])

        browser.close()
        wait_until(lambda: [c["transport"] for c in detail(callee)["contacts"]] == ["udp"], timeout=2)

    assert sip_registrations_remove(extension=callee, config=kamailio.config)
    assert (detail(callee)["online"], listed()[callee.pk]["contacts"]) == (False, [])
