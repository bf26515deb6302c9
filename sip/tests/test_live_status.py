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
