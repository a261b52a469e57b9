"""Pages of a long list (versions, the Meta table, Activity): Django's Paginator, and the
links of the pager partial (`checkpoints/_pager.html`), which keep the other parameters."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.http import QueryDict

from checkpoints.security.input_guard import int_or_none


def page_get(items: Any, *, query: QueryDict, param: str, per_page: int) -> Page:
    """The page `query[param]` of `items` (the first for a missing or bad number, the last
    past the end: a pager link never answers 404 or 500)."""
    number = int_or_none(query.get(param, "")) or 1
    return Paginator(items, per_page).get_page(number)


def _link(base: str, query: QueryDict, param: str, number: int) -> str:
    changed = query.copy()
    changed[param] = str(number)
    return f"{base}?{changed.urlencode()}"


def pager(
    page: Page,
    *,
    query: QueryDict,
    param: str,
    href: str,
    hx_get: str | None = None,
    **shown: str,
) -> dict[str, Any]:
    """What the pager partial shows: counts and the newer/older links of `page`.

    `href` is the plain link (no JavaScript), `hx_get` the fragment htmx loads instead;
    `shown` carries the words (`what`, `label`, `older`, `newer`) and the htmx `target`."""
    hx_get = hx_get or href
    links: dict[str, Any] = {"page": page, "total": page.paginator.count, **shown}
    for name, has, number in (
        ("newer", page.has_previous, page.number - 1),
        ("older", page.has_next, page.number + 1),
    ):
        if has():
            links[f"{name}_href"] = _link(href, query, param, number)
            links[f"{name}_hx"] = _link(hx_get, query, param, number)
    return links
