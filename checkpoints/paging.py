"""One page of a list, the same for the API, the MCP tools and the CLI.

Pages are numbered from 1 (`page`, `per_page` at most `MAX_PER_PAGE`). A list is ordered
by a unique key so that walking the pages yields every row once. A page past the last is
empty (with the count), not an error; a page or size that is not a number in range is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100
#: Beyond this a page number is refused (no list is that long; int() of a huge string is slow).
MAX_PAGE = 10**9
PAGE_INVALID = "Must be an integer from 1 to {maximum}."


class PageInvalid(ValueError):
    """`page` / `per_page` out of range: `details` says which, one message per field."""

    def __init__(self, details: dict[str, str]) -> None:
        super().__init__(details)
        self.details = details


@dataclass(frozen=True)
class PageRequest:
    number: int = 1
    per_page: int = DEFAULT_PER_PAGE


@dataclass(frozen=True)
class Page:
    items: list[Any]
    count: int
    number: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.per_page))

    @property
    def next_number(self) -> int | None:
        return self.number + 1 if self.number * self.per_page < self.count else None

    @property
    def previous_number(self) -> int | None:
        if self.number <= 1 or self.count == 0:
            return None
        return min(self.number - 1, self.pages)

    def counts(self) -> dict[str, int | None]:
        """Where this page stands, for answers that give page numbers instead of links."""
        return {
            "count": self.count,
            "page": self.number,
            "per_page": self.per_page,
            "pages": self.pages,
            "next_page": self.next_number,
            "previous_page": self.previous_number,
        }

    @property
    def first_index(self) -> int:
        """1-based index of the first item on this page (0 for an empty page)."""
        return (self.number - 1) * self.per_page + 1 if self.items else 0


def _bounded(raw: Any, name: str, maximum: int, errors: dict[str, str]) -> int | None:
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or not 1 <= int(text) <= maximum:
        errors[name] = PAGE_INVALID.format(maximum=maximum)
        return None
    return int(text)


def page_request(params: Mapping[str, Any]) -> PageRequest:
    """`page` and `per_page` from query parameters (or tool arguments), else `PageInvalid`."""
    errors: dict[str, str] = {}
    number, per_page = 1, DEFAULT_PER_PAGE
    if params.get("page") not in (None, ""):
        number = _bounded(params["page"], "page", MAX_PAGE, errors) or 1
    if params.get("per_page") not in (None, ""):
        per_page = _bounded(params["per_page"], "per_page", MAX_PER_PAGE, errors) or 1
    if errors:
        raise PageInvalid(errors)
    return PageRequest(number=number, per_page=per_page)


def page_of(
    rows: QuerySet, request: PageRequest, serialize: Callable[[Any], Any] = lambda row: row
) -> Page:
    """The requested page of `rows` (already ordered by a unique key), serialized."""
    count = rows.count()
    start = (request.number - 1) * request.per_page
    items = (
        [serialize(row) for row in rows[start : start + request.per_page]] if start < count else []
    )
    return Page(items=items, count=count, number=request.number, per_page=request.per_page)
