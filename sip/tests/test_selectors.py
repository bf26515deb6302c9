"""Registration status from `location`, without a SIP server: rows written as Kamailio does."""

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from extensions.models import Extension
from hotlines.models import Hotline
from sip.models import Location, SipAccount
from sip.selectors import (
    contacts_for,
    registrations,
    with_contacts,
    with_online_count,
    with_online_status,
)
from tests.factories import HotlineFactory, make_extension

_ruids = itertools.count()


def add_contact(
    extension_or_pair,
    *,
    seconds: int = 300,
    transport: str = "udp",
    user_agent: str = "Zoiper 5",
    source: str = "203.0.113.7:5062",
) -> Location:
    """A row as Kamailio's usrloc writes it (received / socket / contact per transport)."""
    if isinstance(extension_or_pair, Extension):
        username, domain = extension_or_pair.number, extension_or_pair.hotline.sip_domain
    else:
        username, domain = extension_or_pair
    now = timezone.now()
    param = "" if transport == "udp" else f";transport={transport}"
    websocket = transport in ("ws", "wss")
    # A secure WebSocket's source is noted as transport=ws; its socket is the TLS one.
    received_param = ";transport=ws" if transport == "wss" else param
    socket_proto = {"ws": "tcp", "wss": "tls"}.get(transport, transport)
    port = {"ws": 8088, "wss": 8443, "tls": 5061}.get(transport, 5060)
    return Location.objects.create(
        ruid=f"uloc-{next(_ruids)}",
        username=username,
        domain=domain,
        contact=f"sip:{username}@{'abc.invalid' if websocket else source}{param}",
        received=f"sip:{source}{received_param}",
        expires=now + dt.timedelta(seconds=seconds),
        callid="c",
        cseq=1,
        last_modified=now,
        user_agent=user_agent,
        socket=f"{socket_proto}:198.51.100.1:{port}",
    )


@pytest.fixture
def two_hotlines(db):
    a, b = HotlineFactory(), HotlineFactory()
    return (
        a,
        b,
        {n: make_extension(a, n, f"a{n}") for n in ("100", "101", "102")},
        {n: make_extension(b, n, f"b{n}") for n in ("100", "101")},
    )


def test_online_status_matches_number_and_hotline_domain(two_hotlines):
    a, b, ext_a, ext_b = two_hotlines
    add_contact(ext_a["100"])
    add_contact(ext_a["100"], transport="ws")
    add_contact(ext_a["101"], seconds=-5)  # expired
    add_contact(("102", "elsewhere.example"))  # same number, not our domain

    rows = {(e.hotline_id, e.number): e for e in with_online_status(Extension.objects.all())}

    assert rows[(a.pk, "100")].contact_count == 2
    assert rows[(a.pk, "101")].contact_count == 0
    assert rows[(a.pk, "102")].contact_count == 0
    # 100 on hotline B is another account: A's registration does not make it online.
    assert rows[(b.pk, "100")].contact_count == 0


def test_online_status_costs_one_query_whatever_the_list_length(two_hotlines, django_assert_num_queries):
    a, _, ext_a, _ = two_hotlines
    add_contact(ext_a["100"])
    with django_assert_num_queries(1):
        short = list(with_online_status(Extension.objects.all()))
    for number in range(200, 240):
        add_contact(make_extension(a, str(number), f"x{number}"))
    with django_assert_num_queries(1):
        long = list(with_online_status(Extension.objects.select_related("hotline")))
    assert len(long) == len(short) + 40
    assert sum(e.contact_count > 0 for e in long) == 41


def test_online_status_counts_each_extensions_live_contacts(two_hotlines):
    _, _, ext_a, ext_b = two_hotlines
    add_contact(ext_a["100"])
    add_contact(ext_a["100"], transport="tcp")
    add_contact(ext_b["101"])
    expected = {ext_a["100"].pk: 2, ext_a["101"].pk: 0, ext_b["101"].pk: 1}

    rows = with_online_status(Extension.objects.filter(pk__in=expected))

    assert dict(rows.values_list("pk", "contact_count")) == expected


def test_contacts_for_shows_device_source_transport_and_expiry(two_hotlines):
    _, _, ext_a, _ = two_hotlines
    add_contact(ext_a["101"], transport="ws", user_agent="JsSIP 3.13.8", source="192.0.2.10:51234")
    add_contact(ext_a["101"], transport="tcp", source="192.0.2.11:40000", seconds=120)
    add_contact(ext_a["101"], seconds=-1)

    contacts = contacts_for(ext_a["101"])

    # Newest first; the expired one is gone.
    assert [(c.transport, c.source) for c in contacts] == [
        ("tcp", "192.0.2.11:40000"),
        ("ws", "192.0.2.10:51234"),
    ]
    ws = next(c for c in contacts if c.transport == "ws")
    assert ws.user_agent == "JsSIP 3.13.8"
    assert ws.socket == "tcp:198.51.100.1:8088"
    assert ws.expires.tzinfo is not None
    assert 290 <= ws.expires_in <= 300


def test_hotline_online_count_counts_extensions_not_contacts(two_hotlines):
    a, b, ext_a, _ = two_hotlines
    add_contact(ext_a["100"])
    add_contact(ext_a["100"], transport="tcp")
    add_contact(ext_a["102"])
    add_contact(ext_a["101"], seconds=-10)
    add_contact(("999", a.sip_domain))  # a deleted extension's leftover registration

    counts = dict(with_online_count(Hotline.objects.all()).values_list("pk", "online_count"))

    assert counts == {a.pk: 2, b.pk: 0}


def test_hotline_online_count_costs_one_query(two_hotlines, django_assert_num_queries):
    with django_assert_num_queries(1):
        list(with_online_count(Hotline.objects.all()))


def test_sip_account_view_has_enabled_extensions_of_enabled_hotlines_and_no_password(two_hotlines):
    a, b, ext_a, ext_b = two_hotlines
    Extension.objects.filter(pk=ext_a["102"].pk).update(enabled=False)
    Hotline.objects.filter(pk=b.pk).update(enabled=False)

    accounts = {(acc.domain, acc.username): acc for acc in SipAccount.objects.all()}

    assert set(accounts) == {(a.sip_domain, "100"), (a.sip_domain, "101")}
    account = accounts[(a.sip_domain, "101")]
    ext = ext_a["101"]
    assert (account.ha1, account.ha1b) == (ext.ha1, ext.ha1b)
    assert (account.call_permission, account.allowed_networks, account.max_contacts) == (3, "", 0)
    assert account.extension == ext
    columns = {f.column for f in SipAccount._meta.concrete_fields}
    assert not any("password" in column for column in columns)


def test_with_contacts_carries_each_rows_registrations_in_its_one_query(
    two_hotlines, django_assert_num_queries
):
    """What the API shows: every row's live registrations in the rows' own query (model rows
    or values() dicts), the same as contacts_for reads one by one."""
    a, _, ext_a, ext_b = two_hotlines
    add_contact(ext_a["101"], transport="ws", user_agent="JsSIP 3.13.8", source="192.0.2.10:51234")
    add_contact(ext_a["101"], transport="wss", source="192.0.2.12:41000")
    add_contact(ext_a["101"], transport="tls", source="192.0.2.13:42000", seconds=120)
    add_contact(ext_a["101"], seconds=-1)  # expired
    add_contact(("101", "elsewhere.example"))  # same number, not our domain
    add_contact(ext_b["100"], transport="tcp")

    with django_assert_num_queries(1):
        rows = {e.pk: e for e in with_contacts(Extension.objects.all())}
    with django_assert_num_queries(1):
        dicts = {row["id"]: row for row in with_contacts(Extension.objects.values("id"))}

    for extension in (*ext_a.values(), *ext_b.values()):
        expected = contacts_for(extension)
        assert registrations(rows[extension.pk].contacts_json) == expected
        assert registrations(dicts[extension.pk]["contacts_json"]) == expected
    shown = [(c.transport, c.source, c.user_agent) for c in contacts_for(ext_a["101"])]
    assert shown == [  # newest first
        ("tls", "192.0.2.13:42000", "Zoiper 5"),
        ("wss", "192.0.2.12:41000", "Zoiper 5"),
        ("ws", "192.0.2.10:51234", "JsSIP 3.13.8"),
    ]
    assert registrations(rows[ext_a["100"].pk].contacts_json) == []
    assert [c.transport for c in registrations(rows[ext_b["100"].pk].contacts_json)] == ["tcp"]
