"""The answers' shapes, declared once: a project, a version, a preview, a job, a share link,
a diff, a plan, a connection string, a page of each, and a refusal.

`serialize` builds every answer through these models (so each door's JSON has exactly
these fields), the MCP tools publish them as their `outputSchema` (the SDK validates each
answer against it), and the OpenAPI document's components of the same names are generated
from them (`api.openapi.components_write()` writes them into `api/openapi.json`;
`tests/api/test_api_openapi.py` checks that the served document holds exactly these).
To add a field: add it here and in `serialize`, then `make openapi`.

The request bodies are declared the same way in `requests.py`: the API validates each body
with its model, and the requestBody components of the same names are generated from them.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from checkpoints.shapes.answers import (
    Connection,
    Diff,
    Error,
    Page,
    Plan,
    PreviewList,
    ProjectList,
    ShareList,
    VersionList,
)
from checkpoints.shapes.records import (
    EngineConnection,
    Job,
    JobError,
    Preview,
    Project,
    Shape,
    Share,
    Snapshots,
    Step,
    Team,
    Version,
)
from checkpoints.shapes.requests import REQUESTS

__all__ = [
    "COMPONENTS", "Connection", "Diff", "EngineConnection", "Error", "Job", "JobError",
    "Page", "Plan", "Preview", "PreviewList", "Project", "ProjectList", "Shape", "Share",
    "ShareList", "Snapshots", "Step", "Team", "Version", "VersionList", "openapi_components",
]  # fmt: skip

#: The shapes the OpenAPI document's components are generated from.
COMPONENTS = (
    Team, EngineConnection, Project, ProjectList, Version, VersionList, Preview,
    PreviewList, Share, ShareList, Diff, Plan, Step, Job, Connection, Error,
)  # fmt: skip


class _Plain(GenerateJsonSchema):
    """JSON Schema without pydantic's generated titles (the component names say it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: Any, mode: Any = "validation") -> Any:
        found = super().generate(schema, mode)
        found.pop("title", None)
        return found


def openapi_components() -> dict[str, Any]:
    """The components/schemas of the shapes (answers) and of the request bodies
    (`requests.REQUESTS`), as OpenAPI 3.1 refers to them."""
    _, top = models_json_schema(
        [(model, "serialization") for model in COMPONENTS]
        + [(model, "validation") for model in REQUESTS],
        ref_template="#/components/schemas/{model}",
        schema_generator=_Plain,
    )
    schemas = top["$defs"]
    for schema in schemas.values():
        schema.pop("title", None)
    return {name: schemas[name] for name in sorted(schemas)}
