"""The API's plumbing: bearer-token auth, JSON bodies, and errors as `{code, message}`.

Every API view is wrapped by `api_view`. It authenticates `Authorization: Bearer <token>`
(never the session: so CSRF cannot apply and `csrf_exempt` is safe), checks the method,
and turns every refusal into JSON with a stable code. Nothing else ever leaves: an
unexpected exception is logged and answered with a generic 500 `internal`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from checkpoints import services
from checkpoints.api.services import token_authenticate
from checkpoints.engines.base import mask_password
from checkpoints.engines.errors import EngineError, OperationTimeout

logger = logging.getLogger(__name__)

UNAUTHORIZED = "Send a valid API token: `Authorization: Bearer <token>` (Settings → API tokens)."
NOT_FOUND = "Not found."
METHOD_NOT_ALLOWED = "Method {method} is not allowed here; use {allowed}."
INVALID = "The request is invalid: see `details`."
INTERNAL = "Something went wrong on our side. It has been logged."
ENGINE_ERROR = "The database engine failed: {error}"
ENGINE_TIMEOUT = "The database engine did not finish in time: {error}"
#: Largest id a bigint column holds; larger ids in a URL are simply not found.
MAX_ID = 2**63 - 1
MAX_NUMBER = 2**31 - 1
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")

#: Service refusals whose message has its own code (status, code).
SERVICE_CODES = {
    services.VERSION_DELETED: (422, "version_deleted"),
    services.VERSION_EXPIRED: (422, "version_expired"),
    services.PREVIEW_GONE: (422, "preview_gone"),
    services.NOT_STARTED: (409, "not_ready"),
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: dict | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details
        self.extra = extra


class Invalid(ApiError):
    def __init__(self, details: dict[str, str]) -> None:
        super().__init__(400, "invalid", INVALID, details)


def not_found() -> ApiError:
    return ApiError(404, "not_found", NOT_FOUND)


def error_response(error: ApiError) -> JsonResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    body.update(error.extra)
    return JsonResponse(body, status=error.status)


def service_error(error: services.ServiceError) -> ApiError:
    if isinstance(error, services.ProjectBusy):
        job_id = error.job.pk if error.job is not None else None
        return ApiError(409, "busy", error.message, job_id=job_id)
    if isinstance(error, services.NotAllowed):
        return ApiError(403, "forbidden", error.message)
    if isinstance(error, services.JobNotRunning):
        return ApiError(409, "not_running", error.message)
    if error.code:
        return ApiError(error.status, error.code, error.message)
    status, code = SERVICE_CODES.get(error.message, (400, "invalid"))
    return ApiError(status, code, error.message)


def engine_error(error: EngineError) -> ApiError:
    text = mask_password(str(error))
    if isinstance(error, OperationTimeout):
        return ApiError(504, "engine_timeout", ENGINE_TIMEOUT.format(error=text))
    return ApiError(502, "engine_error", ENGINE_ERROR.format(error=text))


def _authenticate(request: HttpRequest):
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not _TOKEN.match(raw):
        raise ApiError(401, "unauthorized", UNAUTHORIZED)
    token = token_authenticate(raw=raw)
    if token is None:
        raise ApiError(401, "unauthorized", UNAUTHORIZED)
    return token


def authenticate(request: HttpRequest):
    """The active API token of `request`'s `Authorization: Bearer` header, else 401."""
    return _authenticate(request)


def api_view(*methods: str, auth: bool = True) -> Callable:
    """Make a function an API view: token auth, allowed methods, JSON errors."""

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @login_not_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            try:
                if auth:
                    token = _authenticate(request)
                    request.api_token = token
                    request.user = token.user
                if request.method not in methods:
                    allowed = ", ".join(methods)
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        METHOD_NOT_ALLOWED.format(method=request.method, allowed=allowed),
                    )
                response = view(request, *args, **kwargs)
            except ApiError as error:
                response = error_response(error)
            except Http404:
                response = error_response(not_found())
            except services.ServiceError as error:
                response = error_response(service_error(error))
            except EngineError as error:
                logger.warning("API %s %s: engine error: %s", request.method, request.path, error)
                response = error_response(engine_error(error))
            except SuspiciousOperation as error:
                response = error_response(Invalid({"body": str(error)[:200]}))
            except Exception:
                logger.exception("API %s %s failed", request.method, request.path)
                response = error_response(ApiError(500, "internal", INTERNAL))
            if response.status_code == 405:
                response["Allow"] = ", ".join(methods)
            response["Cache-Control"] = "no-store"
            return response

        return wrapper

    return decorator


# Input -----------------------------------------------------------------------------------


def json_body(request: HttpRequest, *, allowed: set[str]) -> dict[str, Any]:
    """The request's JSON object; unknown fields are refused (every field is checked)."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise Invalid({"body": "The body must be a JSON object."}) from None
    except RecursionError:
        raise Invalid({"body": "The JSON is nested too deeply."}) from None
    try:
        # A lone UTF-16 surrogate ("\ud800") is valid JSON but no text PostgreSQL stores.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid({"body": "The JSON holds a lone surrogate (\\ud800-\\udfff)."}) from None
    except RecursionError:
        raise Invalid({"body": "The JSON is nested too deeply."}) from None
    if not isinstance(data, dict):
        raise Invalid({"body": "The body must be a JSON object."})
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Invalid({name[:100]: "Unknown field." for name in unknown[:20]})
    return data


def text_field(
    data: dict,
    name: str,
    errors: dict[str, str],
    *,
    required: bool,
    max_length: int,
    strip: bool = True,
) -> str | None:
    """A string field of 1..max_length characters (after strip), without NUL."""
    if name not in data or data[name] is None:
        if required:
            errors[name] = "This field is required."
        return None
    value = data[name]
    if not isinstance(value, str):
        errors[name] = "Must be a string."
        return None
    if "\x00" in value:
        errors[name] = "Must not contain NUL characters."
        return None
    if strip:
        value = value.strip()
    if not value:
        errors[name] = "Must not be empty."
        return None
    if len(value) > max_length:
        errors[name] = f"At most {max_length} characters."
        return None
    return value


def int_field(
    data: dict, name: str, errors: dict[str, str], *, required: bool, maximum: int = MAX_NUMBER
) -> int | None:
    if name not in data or data[name] is None:
        if required:
            errors[name] = "This field is required."
        return None
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        errors[name] = f"Must be an integer from 0 to {maximum}."
        return None
    return value


def query_wait(request: HttpRequest, *, maximum: float) -> float:
    """Seconds to wait for the job (`?wait=true`, optional `wait_seconds`), 0 for none."""
    errors: dict[str, str] = {}
    wait = request.GET.get("wait", "false").lower()
    if wait not in {"true", "false", "1", "0"}:
        errors["wait"] = "Must be true or false."
    seconds = maximum
    if "wait_seconds" in request.GET:
        try:
            seconds = float(request.GET["wait_seconds"])
            if not math.isfinite(seconds) or not 0 <= seconds <= maximum:
                raise ValueError
        except ValueError:
            errors["wait_seconds"] = f"Must be a number from 0 to {maximum:g}."
    if errors:
        raise Invalid(errors)
    return seconds if wait in {"true", "1"} else 0.0
