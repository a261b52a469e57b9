"""Input no view can store or parse is refused at the door, readably, in one place.

`InputGuardMiddleware` answers before any view runs:
- 413 for a body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (the limit is in the message), also
  when Django itself finds it too big while a view reads the form (`RequestDataTooBig`);
- 400 for a query or form value holding a NUL character (PostgreSQL cannot store one),
  and for too many form fields (`TooManyFieldsSent`);
- 404 for an id in the path larger than a bigint column holds (`<int:pk>` accepts any
  number of digits; the database would refuse it with an error).

The API answers `{"code", "message"}`; pages a short page (or a `#flash` fragment for htmx).
`int_or_none` reads an id from a query or form value: ASCII digits only (`"²".isdigit()`
is true, `int("²")` fails) and within a bigint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,19}")

TOO_LARGE = "The request body is too large: at most {limit} are accepted."
NUL_REFUSED = "“{field}” holds a NUL character (\\0), which cannot be stored. Remove it."
TOO_MANY_FIELDS = "The form sends too many fields (at most {limit})."
REFUSED_TEMPLATE = "input_refused.html"


def int_or_none(raw: str | None, *, maximum: int = MAX_ID) -> int | None:
    """`raw` as a non-negative integer if it is one in ASCII digits within `maximum`."""
    if raw is None or not _ID.fullmatch(raw.strip()):
        return None
    value = int(raw)
    return value if value <= maximum else None


def size_text(size: int) -> str:
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB ({size:,} bytes)"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB ({size:,} bytes)"
    return f"{size:,} bytes"


class InputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = int_or_none(request.META.get("CONTENT_LENGTH") or "0") or 0
        if limit is not None and length > limit:
            return refused(request, 413, "too_large", TOO_LARGE.format(limit=size_text(limit)))
        try:
            field = _field_with_nul(request)
        except RequestDataTooBig:
            return refused(request, 413, "too_large", TOO_LARGE.format(limit=size_text(limit)))
        except TooManyFieldsSent:
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            return refused(request, 400, "invalid", TOO_MANY_FIELDS.format(limit=limit))
        if field is not None:
            return refused(request, 400, "invalid", NUL_REFUSED.format(field=field[:100]))
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        for value in kwargs.values():
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_ID:
                if request.path.startswith("/api/"):
                    return refused(request, 404, "not_found", "Not found.")
                raise Http404("No such id.")
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return refused(request, 413, "too_large", TOO_LARGE.format(limit=size_text(limit)))
        return None


def _field_with_nul(request: HttpRequest) -> str | None:
    """The name of the first query or form field whose name or value holds a NUL."""
    sources = [request.GET]
    if request.method == "POST" and request.content_type in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        sources.append(request.POST)
    for source in sources:
        for key, values in source.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return key.replace("\x00", "\\0")
    return None


def refused(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"code": code, "message": message}, status=status)
        response["Cache-Control"] = "no-store"
        return response
    if request.headers.get("HX-Request") == "true":
        response = render(
            request,
            "checkpoints/_flash.html",
            {"level": "error", "message": message},
            status=status,
        )
        response["HX-Retarget"] = "#flash"
        response["HX-Reswap"] = "innerHTML"
        return response
    return render(request, REFUSED_TEMPLATE, {"message": message, "status": status}, status=status)
