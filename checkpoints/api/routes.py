"""The API's ninja instance: every operation (`operations_*.py`) added, its URL patterns
(each answering a method it lacks with the API's JSON 405) and its generated document."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern

from checkpoints.api import (
    operations_events,
    operations_neon,
    operations_projects,
    operations_shares,
    operations_sql,
    operations_versions,
)
from checkpoints.api.door import Door, JsonBody, json_405, token_auth
from checkpoints.api.operation import add, documented

api = Door(
    title="Checkpoints agent API",
    version="1.0.0",
    parser=JsonBody(),
    auth=token_auth,
    docs_url=None,
    openapi_url=None,
    urls_namespace="checkpoints-api",
)
for module in (
    operations_projects,
    operations_shares,
    operations_versions,
    operations_sql,
    operations_neon,
    operations_events,
):
    for operation in module.OPERATIONS:
        add(api, operation)


def url_patterns() -> list[URLPattern]:
    """ninja's URL patterns of the operations (named as `Op.name` says)."""
    patterns = [p for p in api.urls[0] if isinstance(p, URLPattern) and str(p.pattern)]
    for pattern in patterns:
        pattern.callback = json_405(pattern.callback)
    return patterns


def generated_paths() -> dict[str, Any]:
    """The document's paths and the components ninja generated from the shape models."""
    schema = api.get_openapi_schema(path_prefix="")
    return {
        "paths": documented(schema["paths"]),
        "schemas": schema["components"].get("schemas", {}),
    }
