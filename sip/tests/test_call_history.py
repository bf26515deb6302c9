"""The call history: who sees which calls (pages, CSV, API), filters, keyset pages, pinned
query counts, retention, and the live status poll with its offline alert."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Q
from django.test import Client, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from sip.call_records import call_records_purge
from sip.choices import CallDirection, Disposition
from sip.models import Call, ExtensionPresence, Location
from sip.signals import registration_changed
from tenants.choices import Role
from tests.api import api_client
from tests.factories import (
    HotlineFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
    make_admin,
    make_agent,
    make_extension,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def add_call(caller_ext, callee_ext=None, *, callee="0912345678", minutes_ago=1, n=[0], **kwargs):  # noqa: B006
    n[0] += 1
    hotline = caller_ext.hotline
    values = {
        "tenant_id": hotline.tenant_id,
        "hotline": hotline,
        "caller_extension": caller_ext,
        "callee_extension": callee_ext,
        "caller": caller_ext.number,
        "callee": callee_ext.number if callee_ext else callee,
        "direction": CallDirection.INTERNAL if callee_ext else CallDirection.OUTBOUND,
        "started_at": NOW - dt.timedelta(minutes=minutes_ago),
        "ended_at": NOW - dt.timedelta(minutes=minutes_ago) + dt.timedelta(seconds=30),
        "disposition": Disposition.ANSWERED,
        "duration": 25,
        "sip_call_id": f"call-{n[0]}@test",
    }
    values.update(kwargs)
    return Call.objects.create(**values)


@pytest.fixture
def team():
    """Hotline with 100 (supervisor of 101), 101, 102; an agent on 100 and one on 102; a second
    tenant with its own calls."""
    hotline = HotlineFactory(number="19001111")
    e100 = make_extension(hotline, "100", "boss")
    e101 = make_extension(hotline, "101", "sale01", supervisor=e100)
    e102 = make_extension(hotline, "102", "kd02")
    other = make_extension(HotlineFactory(number="19002222", tenant=TenantFactory(slug="acme")), "101", "x")
    calls = {
        "101_out": add_call(e101, minutes_ago=5),
        "102_out": add_call(e102, minutes_ago=4, disposition=Disposition.BUSY, duration=0),
        "102_to_101": add_call(e102, e101, minutes_ago=3),
        "100_out": add_call(e100, minutes_ago=2),
        "other": add_call(other, minutes_ago=1),
    }
    return {
        "hotline": hotline,
        "e100": e100,
        "e101": e101,
        "e102": e102,
        "other": other,
        "calls": calls,
        "admin": make_admin(hotline.tenant),
        "supervisor": make_agent(hotline.tenant, e100),
        "agent": make_agent(hotline.tenant, e102),
    }


def api_ids(user, **params) -> set[int]:
    response = api_client(user).get("/api/v1/calls/", params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def ids(team, *names) -> set[int]:
    return {team["calls"][name].pk for name in names}


def test_admin_sees_the_tenants_calls_only(team):
    assert api_ids(team["admin"]) == ids(team, "101_out", "102_out", "102_to_101", "100_out")


def test_agent_sees_only_their_own_extensions_calls(team):
    assert api_ids(team["agent"]) == ids(team, "102_out", "102_to_101")
    client = api_client(team["agent"])
    assert client.get(f"/api/v1/calls/{team['calls']['101_out'].pk}/").status_code == 404


def test_an_agent_without_an_extension_sees_no_calls(team):
    user = UserFactory(username="no-extension")
    MembershipFactory(user=user, tenant=team["hotline"].tenant, role=Role.AGENT, extension=None)
    assert api_ids(user) == set()
    assert api_ids(user, extension=team["e101"].pk, number="101") == set()


def test_supervisor_sees_their_teams_calls(team):
    assert api_ids(team["supervisor"]) == ids(team, "100_out", "101_out", "102_to_101")


def test_other_tenants_calls_are_404(team):
    client = api_client(team["admin"])
    assert client.get(f"/api/v1/calls/{team['calls']['other'].pk}/").status_code == 404
    assert api_ids(team["admin"], extension=team["other"].pk) == set()


def test_api_item_has_the_contract_fields(team):
    call = team["calls"]["102_out"]
    [row] = [
        r for r in api_client(team["admin"]).get("/api/v1/calls/").json()["results"] if r["id"] == call.pk
    ]
    assert set(row) == {
        "id", "caller", "callee", "direction", "caller_id", "hotline", "started_at", "answered_at",
        "ended_at", "duration", "disposition", "reason",
    }  # fmt: skip
    assert (row["disposition"], row["direction"], row["duration"]) == ("busy", "outbound", 0)


def test_api_filters(team):
    admin = team["admin"]
    assert api_ids(admin, extension=team["e101"].pk) == ids(team, "101_out", "102_to_101")
    assert api_ids(admin, disposition="busy") == ids(team, "102_out")
    assert api_ids(admin, direction="internal") == ids(team, "102_to_101")
    since = (NOW - dt.timedelta(minutes=3, seconds=30)).isoformat()
    assert api_ids(admin, since=since) == ids(team, "102_to_101", "100_out")
    assert api_ids(
        admin, hotline=team["hotline"].pk, until=(NOW - dt.timedelta(minutes=4, seconds=30)).isoformat()
    ) == ids(team, "101_out")
    assert api_client(admin).get("/api/v1/calls/", {"disposition": "nope"}).status_code == 400


def test_api_times_at_any_offset_or_at_the_ends_of_the_calendar_are_answered_not_500(team):
    """Python reads UTC offsets up to ±23:59, PostgreSQL only ±15:59; the last day of the
    calendar has no next day (schemathesis found both as 500s)."""
    admin = team["admin"]
    # The same instant as NOW - 4.5 min, written at -18:33: the same calls as in UTC.
    at = (NOW - dt.timedelta(minutes=4, seconds=30)).astimezone(
        dt.timezone(-dt.timedelta(hours=18, minutes=33))
    )
    assert api_ids(admin, hotline=team["hotline"].pk, until=at.isoformat()) == ids(team, "101_out")
    assert len(api_ids(admin, until="9999-12-31")) == len(team["calls"]) - 1  # the other tenant's not
    response = api_client(admin).get("/api/v1/calls/", {"since": "9999-12-31T23:00:00-05:00"})
    assert response.status_code == 400 and "since" in response.json()


def test_extension_history_page_visibility(team, client):
    url = reverse("calls:extension_calls", kwargs={"pk": team["e101"].pk})
    client.force_login(team["agent"])
    assert client.get(url).status_code == 404  # 102's agent: not theirs
    client.force_login(team["supervisor"])
    page = client.get(url)
    assert page.status_code == 200
    assert [row["id"] for row in page.context["page"].object_list] == [
        team["calls"]["102_to_101"].pk,
        team["calls"]["101_out"].pk,
    ]
    client.force_login(team["admin"])
    assert client.get(reverse("calls:extension_calls", kwargs={"pk": team["other"].pk})).status_code == 404
    hotline_url = reverse("calls:hotline_calls", kwargs={"hotline_pk": team["hotline"].pk})
    assert client.get(hotline_url).status_code == 200
    client.force_login(team["agent"])
    assert client.get(hotline_url).status_code == 403


def test_keyset_pages_walk_every_call_once(team, client):
    e101 = team["e101"]
    for i in range(120):
        add_call(e101, minutes_ago=10 + i % 7)  # many share a start time: the id breaks ties
    client.force_login(team["admin"])
    url = reverse("calls:hotline_calls", kwargs={"hotline_pk": team["hotline"].pk})
    seen, query = [], ""
    while True:
        page = client.get(url + query).context["page"]
        seen += [row["id"] for row in page.object_list]
        if not page.next_cursor:
            break
        query = f"?after={page.next_cursor}"
    expected = list(Call.objects.filter(tenant_id=team["hotline"].tenant_id).values_list("pk", flat=True))
    assert len(seen) == len(set(seen)) == len(expected) == 124
    assert set(seen) == set(expected)


def test_a_cursor_no_page_gave_shows_the_first_page(team, client):
    """Typed or tampered cursors (garbage, a key past a bigint, a time past the calendar) are
    no cursor: the first page, never a 500 (SQLite refuses an integer past 64 bits)."""
    add_call(team["e101"], minutes_ago=5)
    client.force_login(team["admin"])
    url = reverse("calls:hotline_calls", kwargs={"hotline_pk": team["hotline"].pk})
    api = api_client(team["admin"])
    first_page = [row["id"] for row in client.get(url).context["page"].object_list]
    first_results = api.get("/api/v1/calls/").json()["results"]
    assert first_page and first_results
    for cursor in ("x", "1_99999999999999999999", "1_-5", "99999999999999999999_1", "_", "1_"):
        page = client.get(url, {"after": cursor})
        assert page.status_code == 200, cursor
        assert [row["id"] for row in page.context["page"].object_list] == first_page, cursor
        response = api.get("/api/v1/calls/", {"cursor": cursor})
        assert response.status_code == 200 and response.json()["results"] == first_results, cursor


def test_either_side_pages_walk_every_call_once_newest_first(team, client):
    """An extension's calls made and received (and a number as caller or callee) are read as a
    union of one query per side: pages of it, ties on the start time included, in the page and
    in the API, match the plain OR query exactly."""
    e101, e102 = team["e101"], team["e102"]
    for i in range(90):
        minutes = 10 + i % 4  # many share a start time: the id breaks ties
        if i % 3 == 0:
            add_call(e102, e101, minutes_ago=minutes)  # received
        elif i % 3 == 1:
            add_call(e101, minutes_ago=minutes, callee="0988000111")  # made, to the number
        else:
            add_call(e102, minutes_ago=minutes, callee="0988000111")  # someone else's
    for minutes in (11, 12):  # both sides at once: listed once
        add_call(e101, e101, minutes_ago=minutes)
        add_call(e102, minutes_ago=minutes, caller="0988000111", callee="0988000111")
    client.force_login(team["supervisor"])
    api = api_client(team["supervisor"])
    cases = [
        (f"/extensions/{e101.pk}/calls/", {}, Q(caller_extension=e101) | Q(callee_extension=e101)),
        (
            f"/hotlines/{team['hotline'].pk}/calls/",
            {"number": "0988000111"},
            Q(caller="0988000111") | Q(callee="0988000111"),
        ),
    ]
    client.force_login(team["admin"])
    for url, params, either in cases:
        expected = list(
            Call.objects.filter(either, tenant_id=e101.hotline.tenant_id)
            .order_by("-started_at", "-id")
            .values_list("pk", flat=True)
        )
        seen, cursor = [], ""
        while True:
            page = client.get(url, {**params, "after": cursor}).context["page"]
            seen += [row["id"] for row in page.object_list]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert seen == expected and len(expected) > 50
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/extensions/{e101.pk}/calls/", {"after": cursor})
    # One index range per side (a row comparison, not `a < x OR (a = x AND b < y)`), in a UNION.
    [sql] = [q["sql"] for q in queries.captured_queries if "sip_call" in q["sql"]]
    if connection.features.supports_slicing_ordering_in_compound:  # PostgreSQL (SQLite: one query)
        assert sql.count('("sip_call"."started_at", "sip_call"."id") <') == 2 and " UNION ALL " in sql
    expected = list(
        Call.objects.filter(Q(caller_extension=e101) | Q(callee_extension=e101))
        .order_by("-started_at", "-id")
        .values_list("pk", flat=True)
    )
    seen, url = [], f"/api/v1/calls/?extension={e101.pk}&page_size=7"
    while url:
        body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == expected


@pytest.mark.parametrize("extra", [5, 500])
def test_history_page_and_api_query_counts_do_not_grow(team, extra):
    Call.objects.bulk_create(
        [
            Call(
                tenant_id=team["hotline"].tenant_id,
                hotline=team["hotline"],
                caller_extension=team["e101"],
                caller="101",
                callee="0912345678",
                direction=CallDirection.OUTBOUND,
                started_at=NOW - dt.timedelta(hours=1, seconds=i),
                disposition=Disposition.ANSWERED,
                sip_call_id=f"bulk-{i}",
            )
            for i in range(extra)
        ]
    )
    hotline, e101 = team["hotline"].pk, team["e101"].pk
    admin, agent = Client(), Client()
    admin.force_login(team["admin"])
    agent.force_login(team["supervisor"])
    admin_api, agent_api = api_client(team["admin"]), api_client(team["supervisor"])
    counts = {}
    for name, (client_, url) in {
        "hotline page": (admin, f"/hotlines/{hotline}/calls/?direction=outbound&disposition=answered"),
        "hotline page, number": (admin, f"/hotlines/{hotline}/calls/?number=0912345678"),
        "extension page": (admin, f"/extensions/{e101}/calls/"),
        "extension page, its supervisor": (agent, f"/extensions/{e101}/calls/?since=2020-01-01"),
        "CSV": (admin, f"/hotlines/{hotline}/calls/export/?disposition=answered"),
        "API": (admin_api, "/api/v1/calls/"),
        "API, extension and number": (admin_api, f"/api/v1/calls/?extension={e101}&number=0912345678"),
        "API, supervisor": (agent_api, "/api/v1/calls/"),
    }.items():
        client_.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = client_.get(url)
            if response.streaming:
                b"".join(response.streaming_content)
            # (the session's own query only without Redis: not the history's)
            counts[name] = sum("django_session" not in q["sql"] for q in queries.captured_queries)
        assert response.status_code == 200
    assert counts == PINNED


# Pages: user + membership, the hotline or extension (checked against the agent's own in the same
# query), "anything to import?", the page's rows (one query, however many sides the filters have).
# API: the token (user + membership), "anything to import?", the rows; an agent's: + their team.
# No count anywhere, except the CSV's bounded one (`count(*)` of at most CALL_EXPORT_INLINE_ROWS
# + 1 rows: streamed now, or a background export; sip/call_exports.py).
PINNED = {
    "hotline page": 4,
    "hotline page, number": 4,
    "extension page": 4,
    "extension page, its supervisor": 4,
    "CSV": 5,
    "API": 3,
    "API, extension and number": 3,
    "API, supervisor": 4,
}


def test_csv_export_streams_the_filtered_calls(team, client):
    client.force_login(team["admin"])
    url = reverse("calls:hotline_calls_export", kwargs={"hotline_pk": team["hotline"].pk})
    response = client.get(url, {"disposition": "busy"})
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    lines = body.lstrip("\ufeff").strip().splitlines()
    assert len(lines) == 2 and "102" in lines[1] and "Máy bận" in lines[1]  # Vietnamese first


def test_purge_deletes_old_calls_per_tenant_and_audits_the_count(team):
    tenant = team["hotline"].tenant
    tenant.call_retention_days = 30
    tenant.save()
    old = [add_call(team["e101"], minutes_ago=60 * 24 * 31 + i) for i in range(7)]
    kept_old_elsewhere = add_call(team["other"], minutes_ago=60 * 24 * 31)  # acme keeps 365 days

    assert call_records_purge(batch=3) == {tenant.name: 7}

    assert not Call.objects.filter(pk__in=[c.pk for c in old]).exists()
    assert Call.objects.filter(pk=kept_old_elsewhere.pk).exists()
    assert Call.objects.filter(tenant=tenant).count() == 4
    [event] = AuditEvent.objects.filter(tenant_id=tenant.pk, action="delete")
    assert event.changes["deleted"] == 7
    assert call_records_purge() == {}


def test_purge_command(team, capsys):
    from django.core.management import call_command

    add_call(team["e101"], minutes_ago=60 * 24 * 400)
    call_command("purge_call_records")
    assert "1 call records deleted in all" in capsys.readouterr().out


# --- Live status --------------------------------------------------------------------------------


def register(extension, *, seconds=300) -> Location:
    now = timezone.now()
    return Location.objects.create(
        ruid=f"ruid-{extension.pk}",
        username=extension.number,
        domain=extension.hotline.sip_domain,
        contact=f"sip:{extension.number}@127.0.0.1:5099",
        expires=now + dt.timedelta(seconds=seconds),
        callid="x",
        cseq=1,
        last_modified=now,
        user_agent="test",
        socket="udp:127.0.0.1:5060",  # as Kamailio writes it (sip.0006 ignores rows without)
    )


def test_status_poll_reports_online_and_offline_once_with_an_alert(team, client, settings):
    # Every poll reads afresh (the shared snapshot: sip/tests/test_live_status.py).
    settings.LIVE_STATUS_CACHE_SECONDS = 0
    events = []

    def receiver(sender, extension, online, alert, **kwargs):
        events.append((extension.number, online, alert))

    registration_changed.connect(receiver, dispatch_uid="test_status")
    try:
        client.force_login(team["admin"])
        url = reverse("calls:hotline_status", kwargs={"hotline_pk": team["hotline"].pk})
        e101 = str(team["e101"].pk)
        first = client.get(url).json()["extensions"][e101]
        assert (first["online"], first["alert"]) == (False, False)
        location = register(team["e101"])
        with TestCase.captureOnCommitCallbacks(execute=True):
            online = client.get(url).json()["extensions"][e101]
        assert (online["online"], online["alert"]) == (True, False)
        location.delete()
        with TestCase.captureOnCommitCallbacks(execute=True):
            offline = client.get(url).json()["extensions"][e101]
            again = client.get(url).json()["extensions"][e101]
        assert (offline["online"], offline["alert"], again["alert"]) == (False, True, True)
        assert events == [("101", True, False), ("101", False, True)]
        assert ExtensionPresence.objects.get(pk=team["e101"].pk).alert
        # The list shows the badge from the first render too.
        page = client.get(reverse("extensions:extension_list", kwargs={"hotline_pk": team["hotline"].pk}))
        assert page.content.decode().count("js-offline-alert") == 1
    finally:
        registration_changed.disconnect(dispatch_uid="test_status")


def test_status_and_wallboard_are_the_tenants_admins(team, client):
    for name in ("hotline_status", "wallboard"):
        client.force_login(team["agent"])
        assert (
            client.get(reverse(f"calls:{name}", kwargs={"hotline_pk": team["hotline"].pk})).status_code == 403
        )
        client.force_login(team["admin"])
        other = team["other"].hotline
        assert client.get(reverse(f"calls:{name}", kwargs={"hotline_pk": other.pk})).status_code == 404
        assert (
            client.get(reverse(f"calls:{name}", kwargs={"hotline_pk": team["hotline"].pk})).status_code == 200
        )
