"""OneQueryPaginator pages like Django's Paginator, with the total in the rows query."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models.functions import Length
from django.test.utils import CaptureQueriesContext

from core.pagination import OneQueryPaginator
from extensions.models import Extension
from extensions.services.bulk import extension_range_create
from hotlines.models import Hotline
from tests.api import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def hotline(world):
    extension_range_create(hotline=world.hotline_a, first="200", last="306", alias_pattern="s{n}")
    return world.hotline_a  # 3 + 107 = 110 extensions


def querysets(hotline):
    rows = Extension.objects.filter(hotline=hotline).order_by(Length("number"), "number")
    return {"models": rows, "dicts": rows.values("id", "number")}


def numbers(page) -> list[str]:
    return [row["number"] if isinstance(row, dict) else row.number for row in page]


@pytest.mark.parametrize("kind", ["models", "dicts"])
@pytest.mark.parametrize("per_page, orphans", [(50, 0), (25, 0), (50, 10), (200, 0)])
# 10**20: past any bigint, so no OFFSET a database takes (it was a DataError, not EmptyPage).
@pytest.mark.parametrize("number", [1, 2, 3, "3", 4, 99, 0, -1, "abc", None, "", "2.0", 10**20, str(10**20)])
def test_get_page_is_djangos(hotline, kind, per_page, orphans, number):
    queryset = querysets(hotline)[kind]
    ours = OneQueryPaginator(queryset, per_page, orphans=orphans).get_page(number)
    theirs = Paginator(queryset, per_page, orphans=orphans).get_page(number)
    assert numbers(ours) == numbers(theirs)
    assert ours.number == theirs.number
    assert ours.paginator.count == theirs.paginator.count == 110
    assert ours.paginator.num_pages == theirs.paginator.num_pages
    assert (ours.has_next(), ours.has_previous()) == (theirs.has_next(), theirs.has_previous())


@pytest.mark.parametrize("number", [0, 4, "x", 1.5, 10**20, "99999999999999999999"])
def test_page_refuses_what_djangos_refuses(hotline, number):
    queryset = querysets(hotline)["models"]
    for paginator in (Paginator(queryset, 50), OneQueryPaginator(queryset, 50)):
        with pytest.raises((EmptyPage, PageNotAnInteger)) as refused:
            paginator.page(number)
        assert type(refused.value).__name__ in ("EmptyPage", "PageNotAnInteger")


def test_an_empty_list_has_an_empty_first_page(world):
    empty = Extension.objects.filter(hotline=world.hotline_a2)
    page = OneQueryPaginator(empty, 50).get_page(1)
    assert list(page) == [] and page.paginator.count == 0 and page.paginator.num_pages == 1
    with pytest.raises(EmptyPage):
        OneQueryPaginator(empty, 50, allow_empty_first_page=False).page(1)


def test_a_page_is_one_query_and_its_total_is_the_count(hotline):
    queryset = querysets(hotline)["dicts"].filter(number__startswith="2")
    with CaptureQueriesContext(connection) as ctx:
        page = OneQueryPaginator(queryset, 50).get_page(2)
        assert page.paginator.count == 100 and page.paginator.num_pages == 2  # 200–299
        assert len(numbers(page)) == 50
    assert len(ctx.captured_queries) == 1
    assert 'COUNT(*) AS "page_total"' in ctx.captured_queries[0]["sql"]


def test_grouped_querysets_and_lists_are_paginated_the_usual_way(world, hotline):
    from django.db.models import Count

    grouped = Hotline.objects.annotate(n=Count("extensions")).order_by("pk")
    page = OneQueryPaginator(grouped, 1).get_page(2)
    assert page.paginator.count == Hotline.objects.count()
    assert page[0].n == Paginator(grouped, 1).get_page(2)[0].n
    assert numbers(OneQueryPaginator(list(querysets(hotline)["models"]), 100).get_page(2)) == [
        str(n) for n in range(297, 307)
    ]
    tuples = querysets(hotline)["models"].values_list("number", flat=True)
    assert list(OneQueryPaginator(tuples, 100).get_page(2)) == [str(n) for n in range(297, 307)]


def test_the_list_api_pages(world, hotline):
    client = api_client(world.admin_a)
    url = f"/api/v1/extensions/?hotline={hotline.pk}&page_size=50"
    second = client.get(url + "&page=2").json()
    assert second["count"] == 110
    assert [e["number"] for e in second["results"]][:2] == ["247", "248"]
    assert parse_qs(urlsplit(second["next"]).query)["page"] == ["3"]
    assert "page" not in parse_qs(urlsplit(second["previous"]).query)  # the first page
    last = client.get(url + "&page=last").json()
    assert last["count"] == 110 and len(last["results"]) == 10 and last["next"] is None
    for page in ("4", "0", "abc"):
        response = client.get(url + f"&page={page}")
        assert response.status_code == 404, page
