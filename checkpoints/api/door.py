"""The API's door frame on django-ninja: ninja routes each operation (`operations_*.py`),
checks its token and path, and generates the OpenAPI document from the operations and the
shape models (`checkpoints.shapes`, whose request models document each body).

What ninja refuses is answered as the API always answered: a bad path value is a 400
`invalid` naming it, a method a path lacks is a JSON 405 with `Allow`, and the token is
checked first (`authenticate`, and a read-only token refused before any write). Each
operation then runs the API's view (`api_view`: idempotency, `?wait=`, paging, refusals as
`{code, message, details}`), which validates the body with its model (`inputs.body_as`) at
its own turn: after the project or account it names is found, with the context it needs
(the caller's teams), unknown fields named first, every field's refusal in the API's
sentences - so a body's refusals are exactly the API's, in the same order, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationErrorContext
from ninja.parser import Parser

from checkpoints.api.http import (
    METHOD_NOT_ALLOWED,
    SAFE_METHODS,
    ApiError,
    Invalid,
    Refusal,
    authenticate,
    error_response,
    refusal_of,
)
from checkpoints.api.inputs import json_body
from checkpoints.tokens import token_require_write

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def token_auth(request: HttpRequest) -> Any:
    """The request's token (else 401); a write needs a token that may write (else 403)."""
    token = authenticate(request)
    request.api_token = token  # type: ignore[attr-defined]
    request.user = token.user
    if request.method not in SAFE_METHODS:
        token_require_write(token)
    return token


class JsonBody(Parser):
    """The body as `inputs.json_body` reads it (no body is `{}`). One it refuses is given
    as None: the view refuses it in its turn (`inputs.body_as`), after what it checks
    first (the project, the account), as it always did."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any] | None:
        try:
            return json_body(request, allowed=None)
        except Invalid:
            return None


class Door(NinjaAPI):
    """ninja, answering its refusals in the API's words."""

    def validation_error_from_error_contexts(  # type: ignore[override]
        self, error_contexts: list[ValidationErrorContext]
    ) -> Exception:
        """A path or query value ninja refuses, as the API's 400 `invalid` (the body is
        the view's to validate: `inputs.body_as`)."""
        details: dict[str, str] = {}
        for context in error_contexts:
            flat = context.model.__ninja_flatten_map_reverse__
            for e in context.pydantic_validation_error.errors(include_url=False):
                name = flat.get(e["loc"], e["loc"])[-1]
                details.setdefault(str(name)[:100], "Must be a valid value.")
        return Invalid(details)

    def on_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse:
        if isinstance(exc, HttpError) and isinstance(exc.__cause__, Refusal):
            exc = exc.__cause__  # a refusal ninja wrapped (as it wraps a parser's error)
        response = error_response(refusal_of(request, exc))
        response["Cache-Control"] = "no-store"
        return response


def json_405(view: Callable) -> Callable:
    """ninja's path view, its plain 405 answered as the API's JSON 405 (and any answer
    kept from caches)."""

    @login_not_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            given = {m.strip() for m in response["Allow"].split(",")}
            allowed = ", ".join(m for m in METHODS if m in given)
            message = METHOD_NOT_ALLOWED.format(method=request.method, allowed=allowed)
            response = error_response(ApiError(405, "method_not_allowed", message))
            response["Allow"] = allowed
        response["Cache-Control"] = "no-store"
        return response

    return wrapper
