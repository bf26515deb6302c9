"""The live status poll's shared snapshot and ETag (sip.live.status_snapshot): the open pages of
a hotline share one reading for LIVE_STATUS_CACHE_SECONDS, a page whose copy is current gets
304, and a change still reaches them. The cost at 100 pages: bench/status_poll_bench.py."""

import datetime as dt
import time

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sip.models import Location
from tests.factories import HotlineFactory, TenantFactory, make_admin, make_extension

pytestmark = pytest.mark.django_db


@pytest.fixture
def hotline():
    hotline = HotlineFactory(number="19003333")
    for number in ("100", "101", "102"):
        make_extension(hotline, number, f"sale{number}")
    return hotline


def status_url(hotline) -> str:
    return reverse("calls:hotline_status", kwargs={"hotline_pk": hotline.pk})


def register(hotline, number: str) -> None:
    now = timezone.now()
    Location.objects.create(
        ruid=f"ruid-{hotline.pk}-{number}",
        username=number,
        domain=hotline.sip_domain,
        contact=f"sip:{number}@127.0.0.1:5099",
        expires=now + dt.timedelta(seconds=300),
        callid="x",
        cseq=1,
        last_modified=now,
        user_agent="test",
        socket="udp:127.0.0.1:5060",  # as Kamailio writes it (sip.0006 ignores rows without)
    )


def online(response) -> dict[str, bool]:
    return {e["number"]: e["online"] for e in response.json()["extensions"].values()}


def poll_queries(client, url, **headers) -> tuple[HttpResponse, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, headers=headers)
    return response, [q["sql"] for q in queries.captured_queries]


def test_pages_of_a_hotline_share_one_reading_until_it_is_older_than_the_cache_time(
    hotline, client, settings
):
    settings.LIVE_STATUS_CACHE_SECONDS = 0.5
    client.force_login(make_admin(hotline.tenant))
    first, fresh_queries = poll_queries(client, status_url(hotline))
    assert online(first) == {"100": False, "101": False, "102": False}
    register(hotline, "101")
    # Another page within the cache time: the same snapshot, without reading registrations or
    # the hotline (only the signed-in user is loaded).
    second, shared_queries = poll_queries(client, status_url(hotline))
    assert second.content == first.content
    assert not any('"location"' in sql or "hotlines_hotline" in sql for sql in shared_queries)
    assert any('"location"' in sql for sql in fresh_queries)
    assert len(shared_queries) < len(fresh_queries)
    time.sleep(0.6)
    assert online(client.get(status_url(hotline)))["101"] is True


def test_a_current_copy_gets_304_and_a_change_a_new_etag(hotline, client, settings):
    settings.LIVE_STATUS_CACHE_SECONDS = 0
    client.force_login(make_admin(hotline.tenant))
    first = client.get(status_url(hotline))
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"')
    assert first["Cache-Control"] == "private, no-cache"
    # Nothing changed: 304 without a body, though the reading is newer (its `at` is not in the tag).
    same = client.get(status_url(hotline), headers={"If-None-Match": etag})
    assert (same.status_code, same.content, same["ETag"]) == (304, b"", etag)
    # nginx's gzip makes a strong tag weak: still the same copy.
    assert client.get(status_url(hotline), headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    register(hotline, "102")
    changed = client.get(status_url(hotline), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert online(changed)["102"] is True


def test_a_shared_snapshot_never_reaches_another_tenant(hotline, client, settings):
    settings.LIVE_STATUS_CACHE_SECONDS = 60
    client.force_login(make_admin(hotline.tenant))
    owner = client.get(status_url(hotline))
    assert owner.status_code == 200
    client.force_login(make_admin(TenantFactory(slug="acme")))
    assert client.get(status_url(hotline)).status_code == 404
    assert client.get(status_url(hotline), headers={"If-None-Match": owner["ETag"]}).status_code == 404


def test_without_the_cache_every_poll_reads_afresh(hotline, client, settings):
    settings.LIVE_STATUS_CACHE_SECONDS = 0
    client.force_login(make_admin(hotline.tenant))
    assert online(client.get(status_url(hotline)))["100"] is False
    register(hotline, "100")
    assert online(client.get(status_url(hotline)))["100"] is True


# --- Registration changes with no page open (sip.live.presence_sync_all) ----------------------


@pytest.fixture
def reported():
    """The registration changes reported (sip.signals.registration_changed), in order."""
    from sip.signals import registration_changed

    got: list[tuple[str, bool, bool]] = []

    def receiver(sender, extension, online, alert, **kwargs):
        got.append((f"{extension.hotline.number}/{extension.number}", online, alert))

    registration_changed.connect(receiver, dispatch_uid="test_live_status")
    yield got
    registration_changed.disconnect(dispatch_uid="test_live_status")


def unregister(hotline, number: str) -> None:
    Location.objects.filter(username=number, domain=hotline.sip_domain).delete()


def test_the_loop_notices_changes_of_every_hotline_in_one_query_and_reports_each_once(
    hotline, reported, client, settings, django_capture_on_commit_callbacks, django_assert_num_queries
):
    from sip.live import presence_sync_all
    from sip.models import ExtensionPresence

    settings.LIVE_STATUS_CACHE_SECONDS = 0  # every poll looks afresh, as a page's can
    other = HotlineFactory(number="19004444")
    make_extension(other, "100", "kd100")
    # The first look records every extension as it is, without reporting anything.
    with django_capture_on_commit_callbacks(execute=True):
        assert presence_sync_all() == {}
    assert ExtensionPresence.objects.filter(online=False).count() == 4
    # Nothing changed: one query, however many hotlines and extensions.
    with django_assert_num_queries(1):
        assert presence_sync_all() == {}

    register(hotline, "101")
    register(other, "100")
    with django_capture_on_commit_callbacks(execute=True):
        assert len(presence_sync_all()) == 2
    assert sorted(reported) == [("19003333/101", True, False), ("19004444/100", True, False)]

    # A page that polls after the loop saw a change reports nothing again…
    client.force_login(make_admin(hotline.tenant))
    with django_capture_on_commit_callbacks(execute=True):
        assert online(client.get(status_url(hotline)))["101"] is True
    assert len(reported) == 2
    # …and the loop reports nothing a page saw first (no schedule: the alert is raised).
    unregister(hotline, "101")
    with django_capture_on_commit_callbacks(execute=True):
        assert online(client.get(status_url(hotline)))["101"] is False
        assert presence_sync_all() == {}
    assert reported[2:] == [("19003333/101", False, True)]


def test_a_reading_older_than_the_last_change_records_nothing(
    hotline, reported, django_capture_on_commit_callbacks
):
    """A slow look (a page's poll) that read 101 online before the loop recorded it online and
    then offline must not report it online again afterwards."""
    from sip.live import presence_readings, presence_record, presence_sync_all
    from sip.models import ExtensionPresence

    presence_sync_all()
    register(hotline, "101")
    stale = presence_readings(now=timezone.now())
    assert [(r.online, r.was_online) for r in stale] == [(True, False)]
    with django_capture_on_commit_callbacks(execute=True):
        presence_sync_all()
        unregister(hotline, "101")
        presence_sync_all()
        assert presence_record(stale, now=timezone.now()) == {}
    assert [(number, on) for number, on, _alert in reported] == [
        ("19003333/101", True),
        ("19003333/101", False),
    ]
    assert ExtensionPresence.objects.get(extension__number="101", extension__hotline=hotline).online is False


# --- The offline alert: only inside the schedule (sip.live.during_schedule) -------------------

# A Monday in Vietnam's time, inside and outside office hours.
IN_OFFICE_HOURS = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
AFTER_OFFICE_HOURS = dt.datetime(2025, 3, 3, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
ON_A_SUNDAY = dt.datetime(2025, 3, 9, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
ON_A_HOLIDAY = dt.datetime(2025, 3, 4, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))


@pytest.fixture
def office(hotline):
    from hotlines.services import schedule_create

    return schedule_create(
        tenant=hotline.tenant,
        name="Office",
        windows=[{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}],
        holidays=["2025-03-04"],
    )


def test_during_schedule_is_its_own_schedule_else_its_hotlines_else_always(hotline, office):
    from hotlines.services import hotline_set_outbound_schedule, schedule_create
    from sip.live import during_schedule

    nights = schedule_create(
        tenant=hotline.tenant, name="Nights", windows=[{"days": [0], "start": "19:00", "end": "23:00"}]
    )
    plain = hotline.extensions.get(number="100")
    own = make_extension(hotline, "103", "night03", outbound_schedule=nights)
    for moment in (IN_OFFICE_HOURS, AFTER_OFFICE_HOURS, ON_A_SUNDAY):
        assert during_schedule(plain, moment) is True  # no schedule anywhere: always expected
    hotline_set_outbound_schedule(hotline=hotline, schedule=office)
    plain = type(plain).objects.select_related("hotline").get(pk=plain.pk)
    own.refresh_from_db()
    assert during_schedule(plain, IN_OFFICE_HOURS) is True
    assert during_schedule(plain, AFTER_OFFICE_HOURS) is False
    assert during_schedule(plain, ON_A_SUNDAY) is False
    assert during_schedule(plain, ON_A_HOLIDAY) is False
    # Its own schedule wins over its hotline's.
    assert during_schedule(own, IN_OFFICE_HOURS) is False
    assert during_schedule(own, AFTER_OFFICE_HOURS) is True


@pytest.mark.parametrize(
    ("moment", "alert"),
    [(IN_OFFICE_HOURS, True), (AFTER_OFFICE_HOURS, False), (ON_A_SUNDAY, False), (ON_A_HOLIDAY, False)],
)
def test_going_offline_raises_the_alert_only_inside_the_schedule(
    hotline, office, reported, client, django_capture_on_commit_callbacks, moment, alert
):
    """The alert, the list's badge and the webhook's `during_schedule` alike."""
    import json

    from hotlines.services import hotline_set_outbound_schedule
    from sip.live import presence_sync_all
    from sip.models import ExtensionPresence
    from webhooks.models import WebhookDelivery
    from webhooks.services import webhook_create

    hotline_set_outbound_schedule(hotline=hotline, schedule=office)
    webhook_create(
        tenant=hotline.tenant,
        url="http://127.0.0.1:9/hook",
        secret="s3cret-for-the-crm-0123456789",
        events=["registration.offline"],
    )
    register(hotline, "101")
    presence_sync_all(now=moment - dt.timedelta(hours=1))
    unregister(hotline, "101")
    with django_capture_on_commit_callbacks(execute=True):
        assert presence_sync_all(now=moment) == {hotline.extensions.get(number="101").pk: alert}
    assert reported == [("19003333/101", False, alert)]
    assert ExtensionPresence.objects.get(extension__number="101", extension__hotline=hotline).alert is alert
    (delivery,) = WebhookDelivery.objects.all()
    data = json.loads(delivery.body)["data"]
    assert (delivery.event, data["number"], data["online"]) == ("registration.offline", "101", False)
    assert data["during_schedule"] is alert
    # The extension list shows the badge only for an alert.
    client.force_login(make_admin(hotline.tenant))
    page = client.get(reverse("extensions:extension_list", kwargs={"hotline_pk": hotline.pk}))
    assert page.status_code == 200
    assert (b"js-offline-alert" in page.content) is alert


@pytest.mark.django_db
def test_the_loops_reading_agrees_with_the_lists_online_rule(hotline):
    """The registration watch (sip.live.presence_readings) counts contacts in its own query, for
    speed; it must call online exactly what the extension list (with_online_status) does: a
    live contact of the number at the hotline's own domain, not an expired one, not one of the
    same number at another hotline's domain."""
    from extensions.models import Extension
    from sip.live import presence_readings
    from sip.selectors import with_online_status

    other = HotlineFactory.create(number="19004444")
    make_extension(other, "100", "sale100")
    register(hotline, "100")
    register(hotline, "101")
    Location.objects.filter(username="101").update(expires=timezone.now() - dt.timedelta(seconds=1))
    register(other, "100")
    Location.objects.create(  # the number 102 at a domain no hotline has
        ruid="ruid-stray-102",
        username="102",
        domain="elsewhere.example",
        contact="sip:102@127.0.0.1:5099",
        expires=timezone.now() + dt.timedelta(seconds=300),
        callid="y",
        cseq=1,
        last_modified=timezone.now(),
        user_agent="test",
        socket="udp:127.0.0.1:5060",
    )
    Location.objects.filter(username="100", domain=other.sip_domain).update(
        expires=timezone.now() - dt.timedelta(seconds=5)
    )
    now = timezone.now()
    # contact_count: annotated by with_online_status (raw SQL), which django-stubs cannot see.
    counts = with_online_status(Extension.objects.all(), now=now).values_list("pk", "contact_count")  # type: ignore[misc]
    listed = {pk: count > 0 for pk, count in counts}
    read = {reading.extension_id: reading.online for reading in presence_readings(now=now)}
    assert read == listed  # nothing recorded yet: every extension is read
    assert sorted(listed.values()) == [False, False, False, True]


@pytest.mark.django_db
def test_the_wallboard_names_its_cells_by_plain_ids(client, hotline):
    """live.js finds a wallboard's cells by the extension's id: 1234567, never "1.234.567" (the
    number format of the page's language), or the wallboard stops updating past id 999."""
    from extensions.models import Extension

    table = Extension._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 1234566)", [table])
        else:
            cursor.execute("UPDATE sqlite_sequence SET seq = 1234566 WHERE name = %s", [table])
    extension = make_extension(hotline, "109", "sale109")
    assert extension.pk >= 1234567
    client.force_login(make_admin(hotline.tenant))
    for language in ("vi", "en"):
        client.cookies["django_language"] = language
        html = client.get(reverse("calls:wallboard", kwargs={"hotline_pk": hotline.pk})).content.decode()
        assert f'data-ext-status="{extension.pk}"' in html and f'data-ext-call="{extension.pk}"' in html
