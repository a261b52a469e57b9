"""The API's plumbing: bearer-token auth, allowed methods, and errors as `{code, message}`.

Every API view is wrapped by `api_view`. It authenticates `Authorization: Bearer <token>`
(never the session: so CSRF cannot apply and `csrf_exempt` is safe), checks the method,
and turns every refusal into JSON with a stable code. Nothing else ever leaves: an
unexpected exception is logged and answered with a generic 500 `internal`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from checkpoints import services
from checkpoints.api.idempotency import HEADER, idempotent_answer
from checkpoints.api.models import ApiToken
from checkpoints.engines.errors import EngineError
from checkpoints.paging import PageInvalid
from checkpoints.refusals import Refusal, engine_refusal, not_found, service_refusal
from checkpoints.tokens import UNAUTHORIZED, token_from_header, token_require_write

logger = logging.getLogger(__name__)

METHOD_NOT_ALLOWED = "Method {method} is not allowed here; use {allowed}."
INVALID = "The request is invalid: see `details`."
INTERNAL = "Something went wrong on our side. It has been logged."
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

#: The API's name for a refusal (`checkpoints.refusals`): status, code, message.
ApiError = Refusal


class Invalid(ApiError):
    def __init__(self, details: dict[str, str]) -> None:
        super().__init__(400, "invalid", INVALID, details)


def error_response(error: Refusal) -> JsonResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    body.update(error.extra)
    response = JsonResponse(body, status=error.status)
    if error.extra.get("retry_after"):
        response["Retry-After"] = str(error.extra["retry_after"])
    return response


def authenticate(request: HttpRequest) -> ApiToken:
    """The active API token of `request`'s `Authorization: Bearer` header, else 401."""
    token = token_from_header(request.headers.get("Authorization", ""))
    if token is None:
        raise ApiError(401, "unauthorized", UNAUTHORIZED)
    return token


def refusal_of(request: HttpRequest, error: Exception) -> Refusal:
    """What an exception a view raised answers (an unexpected one is logged)."""
    if isinstance(error, Refusal):
        return error
    if isinstance(error, Http404):
        return not_found()
    if isinstance(error, PageInvalid):
        return Invalid(error.details)
    if isinstance(error, services.ServiceError):
        return service_refusal(error)
    if isinstance(error, EngineError):
        logger.warning("API %s %s: engine error: %s", request.method, request.path, error)
        return engine_refusal(error)
    if isinstance(error, SuspiciousOperation):
        return Invalid({"body": str(error)[:200]})
    logger.exception("API %s %s failed", request.method, request.path, exc_info=error)
    return ApiError(500, "internal", INTERNAL)


def _check_method(request: HttpRequest, methods: tuple[str, ...]) -> None:
    if request.method not in methods:
        message = METHOD_NOT_ALLOWED.format(method=request.method, allowed=", ".join(methods))
        raise ApiError(405, "method_not_allowed", message)


def view_answer(view: Callable, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The view's answer, a refusal answered as JSON (so an idempotent retry replays it)."""
    try:
        return view(request, *args, **kwargs)
    except Exception as error:
        return error_response(refusal_of(request, error))


def api_view(*methods: str, auth: bool = True) -> Callable:
    """Make a function an API view: token auth, allowed methods, JSON errors."""

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @login_not_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if auth:
                    # ninja's door (`api.door.token_auth`) has already read it
                    token = getattr(request, "api_token", None) or authenticate(request)
                    request.api_token = token  # type: ignore[attr-defined]
                    request.user = token.user
                _check_method(request, methods)
                writes = request.method not in SAFE_METHODS
                if auth and writes:
                    token_require_write(token)
                if auth and writes and HEADER in request.headers:
                    response = idempotent_answer(
                        request, lambda: view_answer(view, request, *args, **kwargs)
                    )
                else:
                    response = view(request, *args, **kwargs)
            except Exception as error:
                response = error_response(refusal_of(request, error))
            if response.status_code == 405:
                response["Allow"] = ", ".join(methods)
            response["Cache-Control"] = "no-store"
            return response

        return wrapper

    return decorator
