"""A list answer of the API: one page with its count and the links to its neighbours.

    {"count": 1000, "page": 2, "per_page": 50, "pages": 20, "next_page": 3,
     "previous_page": 1, "next": "/api/v1/…?page=3", "previous": "/api/v1/…?page=1",
     "items": […]}

The names MCP and `manage.py … --json` answer too (`Page.counts()`), plus the links.

`next` is null on the last page; walking `next` from the first page yields every item once
(lists are ordered by a unique key). Other query parameters (e.g. `deleted`) are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse

from checkpoints import doorframe
from checkpoints.paging import page_of, page_request


def _link(request: HttpRequest, number: int | None) -> str | None:
    if number is None:
        return None
    query = request.GET.copy()
    query["page"] = str(number)
    return f"{request.path}?{query.urlencode()}"


def list_answer(
    request: HttpRequest, rows: QuerySet, serialize: Callable[[Any], dict[str, Any]]
) -> JsonResponse:
    """The page of `rows` that `?page=&per_page=` asks for (400 `invalid` if out of range)."""
    page = page_of(rows, page_request(request.GET), serialize)
    links = {
        "next": _link(request, page.next_number),
        "previous": _link(request, page.previous_number),
    }
    return JsonResponse(doorframe.page_answer(page, **links))
