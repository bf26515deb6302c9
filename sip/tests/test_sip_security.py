"""The SIP security page and its API (`sip-locks/`, `security-events/`) over the database alone:
who sees which security events and locks, the filters both share, bad input, and what happens
when Kamailio does not answer. The locks themselves, with a real Kamailio, are in
test_protection.py."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sip.choices import SecurityEventKind
from sip.models import SecurityEvent
from tests.api import api_client

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/security-events/"
LOCKS = "/api/v1/sip-locks/"
T0 = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC)  # 17:00 in Vietnam


def _event(kind, source_ip, username="", domain="", minutes=0, count=10) -> SecurityEvent:
    return SecurityEvent.objects.create(
        created_at=T0 + dt.timedelta(minutes=minutes),
        kind=kind,
        source_ip=source_ip,
        username=username,
        domain=domain,
        count=count,
    )


@pytest.fixture
def events(world):
    """Tenant A: an address blocked while guessing 101 and 999 (no such extension), 101 locked;
    tenant B: an address blocked; and a flood (no domain: nobody's)."""
    a, b = world.hotline_a.sip_domain, world.hotline_b.sip_domain
    return {
        "blocked": _event(SecurityEventKind.IP_BLOCKED, "203.0.113.7", "999", a, minutes=0),
        "locked": _event(SecurityEventKind.EXTENSION_LOCKED, "203.0.113.7", "101", a, minutes=1),
        "guessed": _event(SecurityEventKind.IP_BLOCKED, "2001:db8::7", "101", a, minutes=60 * 24),
        "other": _event(SecurityEventKind.IP_BLOCKED, "198.51.100.9", "101", b, minutes=2),
        "flood": _event(SecurityEventKind.FLOOD, "192.0.2.1", minutes=3, count=0),
    }


def test_an_admin_lists_the_events_on_the_tenants_hotlines_newest_first(world, events):
    body = api_client(world.admin_a).get(EVENTS).json()
    assert body["count"] == 3
    assert [e["id"] for e in body["results"]] == [events[k].pk for k in ("guessed", "locked", "blocked")]
    locked = body["results"][1]
    assert locked == {
        "id": events["locked"].pk,
        "created_at": "2025-03-03T17:01:00+07:00",
        "kind": "extension_locked",
        "source_ip": "203.0.113.7",
        "number": "101",
        "domain": world.hotline_a.sip_domain,
        "extension": world.ext_a["101"].pk,
        "failures": 10,
        "released_at": None,
    }
    assert body["results"][2]["extension"] is None  # 999: a number guessed, no extension
    assert api_client(world.admin_b).get(EVENTS).json()["count"] == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "extension_locked"}, ["locked"]),
        ({"kind": "ip_blocked"}, ["guessed", "blocked"]),
        ({"source_ip": "203.0.113.7"}, ["locked", "blocked"]),
        ({"source_ip": "2001:db8::7"}, ["guessed"]),
        ({"number": "101"}, ["guessed", "locked"]),
        ({"since": "2025-03-04"}, ["guessed"]),  # Vietnam's days: the 4th starts 17:00 UTC on the 3rd
        ({"until": "2025-03-03"}, ["locked", "blocked"]),
        ({"since": "2025-03-03T17:00:30+07:00", "until": "2025-03-03T17:01:00+07:00"}, ["locked"]),
        ({"kind": "flood"}, []),
        ({"source_ip": "198.51.100.9"}, []),  # tenant B's
    ],
)
def test_the_filters(world, events, query, expected):
    body = api_client(world.admin_a).get(EVENTS, query).json()
    assert [e["id"] for e in body["results"]] == [events[k].pk for k in expected]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"kind": "bogus"}, "kind"),
        ({"source_ip": "203.0.113"}, "source_ip"),
        ({"source_ip": "'; drop table"}, "source_ip"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-13-01"}, "until"),
        ({"since": "0001-01-01T00:00:00+08:00"}, "since"),
        ({"number": "1" * 65}, "number"),
    ],
)
def test_bad_filters_are_a_400_on_their_field(world, events, query, field):
    response = api_client(world.admin_a).get(EVENTS, query)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_page_past_the_end_is_a_404(world, events):
    assert api_client(world.admin_a).get(EVENTS, {"page": 99}).status_code == 404
    assert api_client(world.admin_a).get(EVENTS, {"page": "x"}).status_code == 404


def test_one_event_only_for_its_tenants_admin(world, events):
    admin = api_client(world.admin_a)
    assert admin.get(f"{EVENTS}{events['locked'].pk}/").json()["number"] == "101"
    for event in ("other", "flood"):
        assert admin.get(f"{EVENTS}{events[event].pk}/").status_code == 404
    assert admin.get(f"{EVENTS}abc/").status_code == 404
    assert api_client(world.admin_b).get(f"{EVENTS}{events['locked'].pk}/").status_code == 404


def test_agents_get_403_and_anonymous_401(world, events):
    agent = api_client(world.agent_a)
    anonymous = api_client()
    for client, status in ((agent, 403), (anonymous, 401)):
        assert client.get(EVENTS).status_code == status
        assert client.get(f"{EVENTS}{events['locked'].pk}/").status_code == status
        assert client.get(LOCKS).status_code == status
        assert client.post(f"{LOCKS}address:203.0.113.7/unblock/").status_code == status


def test_the_list_of_events_takes_the_same_queries_for_5_or_50(world):
    admin = api_client(world.admin_a)
    domain = world.hotline_a.sip_domain

    def queries(count: int) -> int:
        SecurityEvent.objects.all().delete()
        for n in range(count):
            _event(SecurityEventKind.EXTENSION_LOCKED, "203.0.113.7", str(100 + n % 3), domain, minutes=n)
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(EVENTS).json()["count"] == count
        return len(captured)

    admin.get(EVENTS)  # once before counting: the first request also records the token's last use
    assert queries(5) == queries(50)


# --- Locks without Kamailio -------------------------------------------------------------------


@pytest.fixture
def no_kamailio(monkeypatch, tmp_path):
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(tmp_path))  # no control socket there


def test_without_kamailio_the_list_says_it_could_not_read_the_locks(world, events, no_kamailio):
    assert api_client(world.admin_a).get(LOCKS).json() == {"readable": False, "results": []}


def test_who_may_lift_a_lock_is_decided_before_asking_kamailio(world, events, no_kamailio):
    """The page's rule: an extension lock on one of the tenant's hotlines' domains; an address
    block when an `ip_blocked` event from that address was recorded on one of them. Those reach
    Kamailio (here: 503, nothing lifted); any other id is a 404 without it."""
    a, b = world.hotline_a.sip_domain, world.hotline_b.sip_domain
    admin_a, admin_b = api_client(world.admin_a), api_client(world.admin_b)
    for lock_id in (f"extension:101@{a}", "address:203.0.113.7", "address:2001:db8::7"):
        response = admin_a.post(f"{LOCKS}{lock_id}/unblock/")
        assert response.status_code == 503, (lock_id, response.content)
        assert response.json() == {
            "detail": "The SIP server did not answer; nothing was unblocked. Try again."
        }
        assert admin_b.post(f"{LOCKS}{lock_id}/unblock/").status_code == 404, lock_id
    # Tenant B's address, an address only in a flood (nobody's), made-up ids.
    for lock_id in (
        "address:198.51.100.9",
        "address:192.0.2.1",
        f"extension:101@{b}",
        "extension:101",
        "extension:@" + a,
        "address:not-an-address",
        f"extension:101@{a}%00",
        "extension:101@a%00b",
        "address:203.0.113.7%00",
        "lock:1",
        "1",
    ):
        assert admin_a.post(f"{LOCKS}{lock_id}/unblock/").status_code == 404, lock_id
    assert not SecurityEvent.objects.filter(released_at__isnull=False).exists()


def test_the_page_refuses_another_tenants_lock_even_without_kamailio(client, world, events, no_kamailio):
    client.force_login(world.admin_b)
    unblock = reverse("audit:sip_unblock")
    lock = {"kind": "extension", "key": f"101@{world.hotline_a.sip_domain}"}
    assert client.post(unblock, lock).status_code == 404
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    response = client.post(unblock, lock, follow=True)
    assert "did not answer; nothing was unblocked" in response.content.decode()


def test_the_page_filters_the_events_as_the_api_does(client, world, events):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("audit:sip_security"), {"kind": "extension_locked"}).content.decode()
    table = page[page.index('id="sip-security-events"') :]
    assert "Extension locked" in table and "Address blocked" not in table
    assert 'id="sip-security-filter"' in page
    # A bad filter is said on the form; the page still answers.
    response = client.get(reverse("audit:sip_security"), {"source_ip": "nope"})
    assert response.status_code == 200
    assert "Enter a valid IPv4 or IPv6 address." in response.content.decode()
