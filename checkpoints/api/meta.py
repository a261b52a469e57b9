"""The API's description (no token needed) and the JSON 404 of every unknown /api/ path."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from checkpoints.api.http import api_view
from checkpoints.api.openapi import openapi_document
from checkpoints.refusals import not_found


@api_view("GET", auth=False)
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())


@api_view("GET", "POST", "PUT", "PATCH", "DELETE", auth=False)
def unknown(request: HttpRequest, rest: str = "") -> JsonResponse:
    raise not_found()
