"""The extension list page and the list API cost the same queries for 5 and for 5,000
extensions (bench/bench_scale.py measures their time at 10,000)."""

import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from extensions.choices import CallPermission
from extensions.models import Extension
from extensions.services.bulk import extension_bulk_update, extension_range_create
from tests.api import api_client
from tests.factories import HotlineFactory, NumberGroupFactory

pytestmark = pytest.mark.django_db

# The user with their membership, the hotline, the page's rows (their total, caller IDs and
# registration status included); plus the session where it is not read from Redis (no REDIS_URL).
PAGE_QUERIES = 3 + (settings.SESSION_ENGINE == "django.contrib.sessions.backends.db")


@pytest.fixture
def hotlines(world):
    """Tenant A's hotline with 5 extensions and one with 5,000, with supervisors, caller-ID
    hotlines and number groups on many of them (what a row shows must not cost a query)."""
    small = world.hotline_a
    extension_range_create(hotline=small, first="103", last="104", alias_pattern="s{n}")
    big = HotlineFactory(tenant=world.tenant_a)
    group = NumberGroupFactory(tenant=world.tenant_a, name="Sales")
    for first in range(1000, 6000, 1000):
        extension_range_create(
            hotline=big,
            first=str(first),
            last=str(first + 999),
            alias_pattern="sale{n}",
            description="Nhân viên kinh doanh",
        )
    extensions = list(Extension.objects.filter(hotline=big).order_by("number"))
    extension_bulk_update(
        extensions=extensions[1:60],
        data={
            "supervisor": extensions[0],
            "outbound_groups": [group, world.group_a],
            "outbound_hotlines": [small, world.hotline_a2],
            "call_permission": CallPermission.INTERNAL,
        },
    )
    assert Extension.objects.filter(hotline=small).count() == 5
    assert Extension.objects.filter(hotline=big).count() == 5000
    return small, big


def queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


# Each query finds rows on both hotlines.
@pytest.mark.parametrize("query", ["", "?search=10", "?call_permission=mobile", "?enabled=true&page=1"])
def test_list_page_queries_are_the_same_for_5_and_5000(client, world, hotlines, query):
    client.force_login(world.admin_a)
    small, big = hotlines
    counts = []
    for hotline in (small, big):
        count, html = queries(
            client, reverse("extensions:extension_list", kwargs={"hotline_pk": hotline.pk}) + query
        )
        counts.append(count)
    assert counts[0] == counts[1] == PAGE_QUERIES, counts


def test_a_later_page_costs_the_same_and_a_page_past_the_end_shows_the_last(client, world, hotlines):
    client.force_login(world.admin_a)
    small, big = hotlines

    def url(hotline, page):
        return reverse("extensions:extension_list", kwargs={"hotline_pk": hotline.pk}) + f"?page={page}"

    count, html = queries(client, url(big, 3))
    assert count == PAGE_QUERIES
    shown = re.findall(r'class="fw-semibold" href="[^"]+">(\d+)</a>', html)
    assert shown == [str(n) for n in range(1100, 1150)]  # rows 101–150 of 1000…5999
    assert "5.000" in html  # the total, grouped as Vietnamese writes it
    # A stale link past the end: the page is empty, so the total is counted on its own and the
    # last page is shown (what Django's Paginator.get_page does).
    count, html = queries(client, url(small, 3))
    assert count == PAGE_QUERIES + 2
    assert html.count('class="form-check-input js-select-row"') == 5


def test_list_page_rows_show_caller_ids_and_supervisors(client, world, hotlines):
    client.force_login(world.admin_a)
    small, big = hotlines
    _count, html = queries(
        client,
        reverse("extensions:extension_list", kwargs={"hotline_pk": big.pk}) + "?call_permission=internal",
    )
    assert html.count('class="form-check-input js-select-row"') == 50
    assert small.display_number in html and world.hotline_a2.display_number in html
    assert "Group A" in html and "Sales" in html
    assert '1000 <span class="text-muted">sale1000</span>' in html


@pytest.mark.parametrize("query", ["", "&search=10", "&call_permission=mobile"])
def test_list_api_queries_are_the_same_for_5_and_5000(world, hotlines, query):
    client = api_client(world.admin_a)
    client.get("/api/v1/")  # the token's first use of the day is recorded: not part of a list
    counts = []
    for hotline in hotlines:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/api/v1/extensions/?hotline={hotline.pk}{query}")
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
    # the token with its user and membership, the rows (with their total, their caller IDs and
    # the check that the hotline is the tenant's)
    assert counts[0] == counts[1] == 2, counts


def test_list_page_rows_show_registration_status_and_escape_values(client, world):
    from sip.tests.test_selectors import add_contact

    e100, e102 = world.ext_a["100"], world.ext_a["102"]
    add_contact(e100)
    add_contact(e100, transport="ws")
    e102.description = '<script>alert("x")</script> Nhân viên'
    e102.save()
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    _count, html = queries(
        client, reverse("extensions:extension_list", kwargs={"hotline_pk": world.hotline_a.pk})
    )
    row100 = next(row for row in html.split("<tr>") if f'value="{e100.pk}"' in row)
    assert "● Online" in row100 and "×2" in row100
    row102 = next(row for row in html.split("<tr>") if f'value="{e102.pk}"' in row)
    assert "Offline" in row102 and "own hotline" in row102
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Nhân viên" in row102
    assert "<script>alert" not in html
    assert f'href="/extensions/{e102.pk}/"' in row102


def test_the_edit_page_costs_the_same_at_any_size(client, world, hotlines):
    """The create/edit form, range create and bulk edit list no extension: the supervisor is
    picked from matches the list API returns as one types. The edit page of an extension of a
    5,000-extension hotline costs what one of a 5-extension hotline does, in queries and bytes,
    and about what its detail page costs."""
    small, big = hotlines
    client.force_login(world.admin_a)
    pages = {}
    for hotline in (small, big):
        extension = Extension.objects.filter(hotline=hotline).exclude(supervisor=None).first() or (
            Extension.objects.filter(hotline=hotline).first()
        )
        edit = queries(client, reverse("extensions:extension_edit", kwargs={"pk": extension.pk}))
        detail = queries(client, reverse("extensions:extension_detail", kwargs={"pk": extension.pk}))
        add = queries(client, reverse("extensions:extension_add", kwargs={"hotline_pk": hotline.pk}))
        rng = queries(client, reverse("extensions:extension_add_range", kwargs={"hotline_pk": hotline.pk}))
        pages[hotline.pk] = (edit, detail, add, rng)
        assert edit[1].count("<option") < 10  # the language and call permission choices only
        assert 'data-picker="/api/v1/extensions/?hotline=' in edit[1]
    (s_edit, _s_detail, s_add, s_range), (b_edit, b_detail, b_add, b_range) = pages[small.pk], pages[big.pk]
    assert s_edit[0] == b_edit[0] and s_add[0] == b_add[0] and s_range[0] == b_range[0]
    assert b_edit[0] <= b_detail[0] + 2
    assert len(b_edit[1]) < 2 * len(s_edit[1]) and len(b_edit[1]) < 60_000


def test_the_picker_finds_a_supervisor_among_thousands(client, world, hotlines):
    """What static/js/picker.js asks: the hotline's extensions matching what was typed, 20 at
    most, scoped like the list API (another tenant's hotline is refused)."""
    _small, big = hotlines
    client.force_login(world.admin_a)
    found = client.get(
        "/api/v1/extensions/", {"hotline": big.pk, "page_size": 20, "search": "sale4242"}
    ).json()
    assert [r["number"] for r in found["results"]] == ["4242"]
    many = client.get("/api/v1/extensions/", {"hotline": big.pk, "page_size": 20, "search": "3"}).json()
    assert len(many["results"]) == 20
    client.force_login(world.admin_b)
    assert client.get("/api/v1/extensions/", {"hotline": big.pk, "search": "1"}).status_code == 400
