"""Pagination of large lists in one query."""

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Func, IntegerField, QuerySet, Subquery
from django.db.models.expressions import Star
from django.db.models.query import ModelIterable, ValuesIterable

TOTAL = "page_total"
# The largest OFFSET and LIMIT a database takes (64-bit integers in PostgreSQL and SQLite).
MAX_OFFSET = 2**63 - 1


class OneQueryPaginator(Paginator):
    """Django's Paginator for a queryset, with the total count in the page's own rows query:
    `(SELECT COUNT(*) FROM … same filters …)` is an uncorrelated subquery, which the database
    runs once for the whole result, so a page costs one query instead of a COUNT and then the
    rows. The count is the same COUNT as before (index-only where it was), only sent along.

    Pages behave as Django's: `page()` raises PageNotAnInteger / EmptyPage for what it cannot
    show (an empty first page is allowed), `get_page()` falls back to the first or the last
    page. A page past the end is the only case that costs more: the empty page tells nothing
    of the count, so it is counted on its own, as Django's Paginator always does. So is a page
    too far for any database to seek to (`?page=99999999999999999999`): it is past the end of
    every list, and sending its OFFSET would be a database error instead of EmptyPage.

    A grouped, distinct or already-sliced queryset (where a COUNT(*) of it would mean something
    else), a `values_list()` queryset and a plain list are paginated the usual way. The rows of a
    page carry the total as `page_total` (an attribute, or a key of a `values()` dict).
    """

    def _one_query(self) -> bool:
        query = getattr(self.object_list, "query", None)
        return (
            isinstance(self.object_list, QuerySet)
            # Rows that can carry the total: model instances or dicts (not values_list tuples).
            and self.object_list._iterable_class in (ModelIterable, ValuesIterable)
            and query.group_by is None
            and not query.distinct
            and not query.is_sliced
            and not query.combinator
            and not any(getattr(a, "contains_aggregate", False) for a in query.annotations.values())
        )

    def _rows_with_total(self, number: int) -> list:
        count = (
            self.object_list.order_by()
            .annotate(**{TOTAL: Func(Star(), function="COUNT", output_field=IntegerField())})
            .values(TOTAL)
        )
        rows = self.object_list.annotate(**{TOTAL: Subquery(count, output_field=IntegerField())})
        bottom = (number - 1) * self.per_page
        rows = list(rows[bottom : bottom + self.per_page + self.orphans])
        if rows:
            first = rows[0]
            self.count = first[TOTAL] if isinstance(first, dict) else getattr(first, TOTAL)
        elif number == 1 and self.allow_empty_first_page:
            self.count = 0
        else:
            return rows
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return rows[: top - bottom]

    def page(self, number):
        if "count" in self.__dict__ or not self._one_query():
            return super().page(number)
        try:  # what Paginator.validate_number accepts
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        if number * self.per_page + self.orphans > MAX_OFFSET:
            return super().page(number)  # counts, then refuses the page as past the end
        rows = self._rows_with_total(number)
        if "count" not in self.__dict__:  # an empty page past the end
            raise EmptyPage(self.error_messages["no_results"])
        self.validate_number(number)  # with the count known: a page of orphans is not a page
        return self._get_page(rows, number, self)

    def get_page(self, number):
        try:
            return self.page(number)
        except PageNotAnInteger:
            return self.page(1)
        except EmptyPage:
            return super().page(self.num_pages)
