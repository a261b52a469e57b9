"""The API's input: the JSON body (unknown fields refused) validated by its request shape
(`checkpoints.shapes.requests`), and the `?wait=` query. Each error names its field in
`details` (400 `invalid`)."""

from __future__ import annotations

import json
import math
from typing import Any

from django.http import HttpRequest
from pydantic import ValidationError

from checkpoints.api.http import Invalid
from checkpoints.shapes.fields import Request, said


def json_body(request: HttpRequest, *, allowed: set[str] | None) -> dict[str, Any]:
    """The request's JSON object; unknown fields are refused (every field is checked),
    unless `allowed` is None (ninja's door, `api.door.JsonBody`: the view checks them)."""
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
    unknown = sorted(set(data) - allowed) if allowed is not None else []
    if unknown:
        raise Invalid({name[:100]: "Unknown field." for name in unknown[:20]})
    return data


def body_as[R: Request](request: HttpRequest, model: type[R], **context: Any) -> R:
    """The request's JSON body validated by `model` (`checkpoints.shapes.requests`): unknown
    fields are named first; then every field's refusal, in the API's sentences."""
    return data_as(model, json_body(request, allowed=set(model.model_fields)), **context)


def data_as[R: Request](model: type[R], data: dict[str, Any], **context: Any) -> R:
    """`data` (a body's JSON object) validated by `model`, else 400 `invalid`."""
    try:
        return model.model_validate(data, context=context or None)
    except ValidationError as error:
        raise Invalid(said(model, error)) from None


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


def query_bool(request: HttpRequest, name: str) -> bool:
    """`?name=true|false|1|0` (absent: false)."""
    value = request.GET.get(name, "false").lower()
    if value not in {"true", "false", "1", "0"}:
        raise Invalid({name: "Must be true or false."})
    return value in {"true", "1"}
