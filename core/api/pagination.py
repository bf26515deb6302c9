from rest_framework.pagination import PageNumberPagination

from core.pagination import OneQueryPaginator


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class LargeListPagination(StandardPagination):
    """For lists that grow to thousands of rows (extensions): the total comes with the page's
    rows in one query (core.pagination.OneQueryPaginator)."""

    django_paginator_class = OneQueryPaginator
