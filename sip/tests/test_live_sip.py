"""Live status and its webhooks through a real Kamailio: registrations and calls reach a webhook
receiver with no page open (`import_call_records --follow` and the task-queue worker, both real
processes), each change once even when pages poll too, and a call in progress shows on the
status poll and the wallboard until it is hung up."""

import hashlib
import hmac
import re
import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from extensions.services import extension_reveal_credentials
from hotlines.models import Hotline
from sip.call_records import call_records_import
from sip.kamailio import host_port
from sip.models import Call, ExtensionPresence
from sip.sipclient import SipClient
from tests.api import api_client
from tests.factories import HotlineFactory, make_admin, make_extension
from webhooks.tests.receiver import Receiver

from .media import Baresip, write_tone
from .test_calls import call

pytestmark = pytest.mark.sip

SECRET = "crm-secret-for-registrations-42"
EVENTS = ["registration.online", "registration.offline", "call.ended"]


@pytest.fixture
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


def check_signature(request: dict) -> None:
    """X-PBX-Signature as docs/architecture.md tells a receiver to check it, without our code:
    `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the secret>`."""
    header = request["headers"]["X-PBX-Signature"]
    parts = dict(part.split("=", 1) for part in header.split(","))
    assert set(parts) == {"t", "v1"}, header
    signed = f"{parts['t']}.".encode() + request["body"]
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected), header
    assert abs(time.time() - int(parts["t"])) < 300
    # Another secret, or one byte of the body changed, does not verify.
    assert hmac.new(b"x" + SECRET.encode(), signed, hashlib.sha256).hexdigest() != parts["v1"]
    assert hmac.new(SECRET.encode(), signed + b" ", hashlib.sha256).hexdigest() != parts["v1"]


def wait(condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def named(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["event"] == name]


@pytest.fixture
def hotline(kamailio, dial_rules):
    hotline = HotlineFactory(number="19006661")
    kamailio.reload_domains()
    return hotline


@pytest.fixture
def subscribed(hotline, receiver) -> dict:
    response = api_client(make_admin(hotline.tenant)).post(
        reverse("api:webhook-list"), {"url": receiver.url, "secret": SECRET, "events": EVENTS}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def phone_for(info) -> SipClient:
    host, port = host_port(info.proxy, 5060)
    return SipClient(host, port)


def test_registrations_and_calls_reach_the_receiver_signed_with_no_page_open(
    kamailio, gateway, hotline, subscribed, receiver, worker, follower
):
    """Nothing in this test opens a page or polls: the follower notices the registration and
    the call, the worker delivers."""
    caller = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=caller)
    # The follower's first look records 101 as offline (a first look reports nothing).
    wait(lambda: ExtensionPresence.objects.filter(pk=caller.pk).exists(), 10, "the follower's first look")

    with phone_for(info) as phone:
        response = phone.register(username=info.username, domain=info.domain, password=info.password)
        assert response.status == 200
        registered = time.monotonic()
        receiver.wait_for(lambda got: named(got, "registration.online"), timeout=10)
        online_after = time.monotonic() - registered

        gateway.answer = 200
        assert call(info, "0912345678", client=phone).status == 200  # answered, then BYE
        hung_up = time.monotonic()
        receiver.wait_for(lambda got: named(got, "call.ended"), timeout=10)
        ended_after = time.monotonic() - hung_up

        response = phone.register(
            username=info.username, domain=info.domain, password=info.password, expires=0
        )
        assert response.status == 200
        unregistered = time.monotonic()
        events = receiver.wait_for(lambda got: named(got, "registration.offline"), timeout=10)
        offline_after = time.monotonic() - unregistered

    # Within the follower's second, the worker's pick-up and the POST (slack for a busy CI).
    assert max(online_after, ended_after, offline_after) < 5, (online_after, ended_after, offline_after)
    time.sleep(1.5)  # nothing more comes: each change once
    events = receiver.events()
    assert sorted(e["event"] for e in events) == sorted(EVENTS), [e["event"] for e in events]
    for request, event in zip(receiver.requests, events, strict=True):
        check_signature(request)
        assert request["headers"]["X-PBX-Event"] == event["event"]
        assert request["headers"]["X-PBX-Delivery"] == event["id"]
        assert event["tenant"] == hotline.tenant_id

    (online,) = named(events, "registration.online")
    assert (online["data"]["number"], online["data"]["online"]) == ("101", True)
    assert online["data"]["hotline"]["sip_domain"] == hotline.sip_domain
    (offline,) = named(events, "registration.offline")
    assert (offline["data"]["number"], offline["data"]["online"]) == ("101", False)
    assert offline["data"]["during_schedule"] is True  # no schedule: always expected online
    (ended,) = named(events, "call.ended")
    data = ended["data"]
    assert (data["caller"], data["callee"], data["direction"], data["disposition"]) == (
        "101",
        "0912345678",
        "outbound",
        "answered",
    )
    assert data["hotline"] == hotline.pk and data["ended_at"] and data["answered_at"]

    # It was the follower that saw them (its log; the test process never looked).
    follower.terminate()
    follower.wait(timeout=10)
    log = follower.log_path.read_text()
    assert "1 calls ended" in log and log.count("1 registrations changed") == 2, log


def test_a_change_is_reported_once_while_pages_poll_beside_the_follower(
    kamailio, hotline, subscribed, receiver, worker, follower, settings
):
    """Pages polling the status (each reading afresh) and the follower look at the same
    registrations at the same time: every change reaches the receiver once."""
    settings.LIVE_STATUS_CACHE_SECONDS = 0
    extension = make_extension(hotline, "102", "kd02")
    info = extension_reveal_credentials(extension=extension)
    admin = make_admin(hotline.tenant, username="poller")
    url = reverse("calls:hotline_status", kwargs={"hotline_pk": hotline.pk})
    stop = threading.Event()
    polls = []
    failures: list[str] = []  # an assertion in a thread would not fail the test

    def poll() -> None:
        page = Client()
        page.force_login(admin)
        try:
            while not stop.is_set():
                response = page.get(url)
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.content[:300]!r}")
                    return
                polls.append(response.json()["extensions"][str(extension.pk)]["online"])
                time.sleep(0.05)
        except Exception as exc:  # noqa: BLE001 — reported in the test's thread
            failures.append(repr(exc))
        finally:
            connection.close()

    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for thread in pollers:
        thread.start()
    try:
        wait(lambda: ExtensionPresence.objects.filter(pk=extension.pk).exists(), 10, "a first look")
        with phone_for(info) as phone:
            for expires in (300, 0, 300, 0, 300, 0):
                response = phone.register(
                    username=info.username, domain=info.domain, password=info.password, expires=expires
                )
                assert response.status == 200
                time.sleep(1.3)  # the follower's round and the pages' polls both see it
    finally:
        stop.set()
        for thread in pollers:
            thread.join(timeout=10)
    receiver.wait_for(lambda got: len(named(got, "registration.offline")) == 3, timeout=15)
    time.sleep(1.5)
    events = sorted(receiver.events(), key=lambda e: e["created_at"])
    assert [e["event"] for e in events] == ["registration.online", "registration.offline"] * 3
    assert not failures, failures
    assert True in polls and False in polls  # the pages saw both states meanwhile
    for request in receiver.requests:
        check_signature(request)


# --- Calls in progress on the status poll and the wallboard ------------------------------------


def call_cells(html: str) -> dict[str, str]:
    """The wallboard's call column: extension id → its text."""
    return {
        pk: re.sub(r"\s+", " ", text).strip()
        for pk, text in re.findall(r'data-ext-call="(\d+)">(.*?)</td>', html, flags=re.S)
    }


def test_a_call_in_progress_shows_on_the_status_and_the_wallboard_until_hung_up(
    kamailio, relay, tmp_path, settings
):
    settings.LIVE_STATUS_CACHE_SECONDS = 0
    hotline: Hotline = HotlineFactory.create(number="19006662")
    kamailio.reload_domains()
    caller = make_extension(hotline, "101", "sale01")
    callee = make_extension(hotline, "104", "kd04")
    idle = make_extension(hotline, "105", "kd05")
    browser = Client()
    browser.force_login(make_admin(hotline.tenant))
    status_url = reverse("calls:hotline_status", kwargs={"hotline_pk": hotline.pk})
    wallboard_url = reverse("calls:wallboard", kwargs={"hotline_pk": hotline.pk})

    def calls() -> dict[str, Any]:
        response = browser.get(status_url)
        assert response.status_code == 200
        return {s["number"]: s["call"] for s in response.json()["extensions"].values()}

    def dialogs() -> int:
        """This call's rows in Kamailio's `dialog` table (other tests' calls may linger there)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM dialog d JOIN dialog_vars v "
                "ON v.hash_entry = d.hash_entry AND v.hash_id = d.hash_id "
                "WHERE v.dialog_key = 'pbx_caller' AND v.dialog_value = %s",
                [f"101@{hotline.sip_domain}"],
            )
            return cursor.fetchone()[0]

    tone = write_tone(tmp_path / "tone.wav", 1000)
    with (
        Baresip(extension_reveal_credentials(extension=caller), tmp_path / "a", tone) as phone_a,
        Baresip(extension_reveal_credentials(extension=callee), tmp_path / "b", tone) as phone_b,
    ):
        assert calls() == {"101": None, "104": None, "105": None}
        phone_a.dial("104")
        phone_a.wait_event("CALL_ESTABLISHED")
        answered = timezone.now()
        wait(lambda: calls()["101"] is not None, 3, "the call on the status")
        now = calls()
        assert now["101"]["peer"] == "104" and now["104"]["peer"] == "101"
        assert now["105"] is None
        since = parse_datetime(now["101"]["since"])
        assert since is not None and since == parse_datetime(now["104"]["since"])
        assert abs((since - answered).total_seconds()) < 3

        page = browser.get(wallboard_url)
        assert page.status_code == 200
        cells = call_cells(page.content.decode())
        local = timezone.localtime(since).strftime("%H:%M")
        assert cells[str(caller.pk)] == f"Đang gọi với 104 từ {local}"  # Vietnamese by default
        assert cells[str(callee.pk)] == f"Đang gọi với 101 từ {local}"
        assert cells[str(idle.pk)] == "—"

        phone_a.hangup()
        phone_b.wait_event("CALL_CLOSED")
        hung_up = time.monotonic()
        wait(lambda: calls() == {"101": None, "104": None, "105": None}, 2, "the call gone from the status")
        assert time.monotonic() - hung_up < 2
        # Kamailio keeps the dialog "confirmed" until it frees it, ~5 s after the BYE: its CDR
        # says it is over, and so does the call once imported (the follower's work).
        assert dialogs() == 1
        call_records_import()
        assert Call.objects.get(caller="101", hotline=hotline).ended_at is not None
        assert calls() == {"101": None, "104": None, "105": None}
        assert dialogs() == 1, "Kamailio freed the dialog before the check"
        cells = call_cells(browser.get(wallboard_url).content.decode())
        assert cells == {str(caller.pk): "—", str(callee.pk): "—", str(idle.pk): "—"}
