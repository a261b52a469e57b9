"""The API's input: the JSON body (unknown fields refused) and its checked fields, and
the `?wait=` query. Each error names its field in `details` (400 `invalid`)."""

from __future__ import annotations

import json
import math
from typing import Any

from django.http import HttpRequest

from checkpoints.api.http import Invalid
from checkpoints.refusals import MAX_NUMBER


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


def query_bool(request: HttpRequest, name: str) -> bool:
    """`?name=true|false|1|0` (absent: false)."""
    value = request.GET.get(name, "false").lower()
    if value not in {"true", "false", "1", "0"}:
        raise Invalid({name: "Must be true or false."})
    return value in {"true", "1"}
