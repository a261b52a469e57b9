"""Check emulator traffic against openapi-subset.json beside this module (Neon's published spec).

`OpenAPIChecker.check_response(method, path, status, body)` returns a list of problems
(empty when the body matches the schema declared for that path, method and status);
`check_request` does the same for JSON request bodies the client sends. The emulator calls
both on every exchange when given a checker, so neither side can drift from Neon's shapes.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

#: A copy of Neon's published spec (the subset the engine uses), kept beside the emulator so
#: a fresh clone checks against it wherever it lives.
SPEC_PATH = Path(__file__).resolve().parent / "openapi-subset.json"
SPEC_CANDIDATES = (SPEC_PATH,)

#: Paths the client uses that the subset does not hold, checked against the spec's
#: component schemas that describe them.
_ROLE_OPERATIONS = {
    "type": "object",
    "required": ["role", "operations"],
    "properties": {
        "role": {"$ref": "#/components/schemas/Role"},
        "operations": {"type": "array", "items": {"$ref": "#/components/schemas/Operation"}},
    },
}
EXTRA_RESPONSES: dict[tuple[str, str, str], str | dict[str, Any]] = {
    ("GET", "/projects/{project_id}/branches/{branch_id}/databases", "200"): (
        "#/components/schemas/DatabasesResponse"
    ),
    ("GET", "/projects/{project_id}/branches/{branch_id}/roles", "200"): (
        "#/components/schemas/RolesResponse"
    ),
    ("POST", "/projects/{project_id}/branches/{branch_id}/roles", "201"): _ROLE_OPERATIONS,
    (
        "POST",
        "/projects/{project_id}/branches/{branch_id}/roles/{role_name}/reset_password",
        "200",
    ): _ROLE_OPERATIONS,
}
#: Paths the client uses that the subset does not hold (their shapes are above).
_EXTRA_PATHS = sorted({template for _, template, _ in EXTRA_RESPONSES}, key=len, reverse=True)

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def find_spec() -> Path | None:
    for candidate in SPEC_CANDIDATES:
        if candidate.exists():
            return candidate
    return None


class OpenAPIChecker:
    def __init__(self, spec_path: Path | None = None) -> None:
        path = spec_path or find_spec()
        if path is None:
            raise FileNotFoundError("openapi-subset.json not found")
        self.spec = json.loads(Path(path).read_text())
        self._templates = [
            (re.compile("^" + re.sub(r"\{[a-z_]+\}", r"[^/]+", t) + "$"), t)
            for t in self.spec["paths"]
        ]
        self._templates += [
            (re.compile("^" + re.sub(r"\{[a-z_]+\}", r"[^/]+", t) + "$"), t) for t in _EXTRA_PATHS
        ]

    def template(self, path: str) -> str | None:
        for pattern, template in self._templates:
            if pattern.match(path):
                return template
        return None

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self._pointer(node["$ref"])
        return node

    def _pointer(self, ref: str) -> dict[str, Any]:
        node: Any = self.spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        """The JSON schema for this answer; None when it has no body; KeyError if unknown."""
        template = self.template(path)
        if (method, template, status) == ("GET", "/projects", 200):
            return _projects_list_schema()  # listProjects is not in the subset
        if template is None:
            raise KeyError(f"{method} {path} is not in the spec subset")
        extra = (method, template, str(status))
        if extra in EXTRA_RESPONSES:
            known = EXTRA_RESPONSES[extra]
            return {"$ref": known} if isinstance(known, str) else known
        if template in _EXTRA_PATHS and status >= 400:
            return {"$ref": "#/components/schemas/GeneralError"}
        operation = self.spec["paths"].get(template, {}).get(method.lower())
        if operation is None:
            raise KeyError(f"{method} {template} is not in the spec subset")
        responses = operation["responses"]
        response = responses.get(str(status))
        if response is None:
            if 200 <= status < 300:
                raise KeyError(f"{method} {template} does not declare status {status}")
            response = responses["default"]
        response = self._resolve(response)
        content = response.get("content")
        if not content:
            return None
        return content["application/json"]["schema"]

    def request_schema(self, method: str, path: str) -> dict[str, Any] | None:
        template = self.template(path)
        operation = self.spec["paths"].get(template or "", {}).get(method.lower())
        if not operation or "requestBody" not in operation:
            return None
        body = self._resolve(operation["requestBody"])
        return body["content"]["application/json"]["schema"]

    def _validate(self, schema: dict[str, Any], instance: Any) -> list[str]:
        validator = _validator(json.dumps(schema, sort_keys=True), id(self.spec), self)
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        ]

    def check_response(self, method: str, path: str, status: int, body: Any) -> list[str]:
        try:
            schema = self.response_schema(method, path, status)
        except KeyError as exc:
            return [str(exc)]
        if schema is None:
            return [] if body is None else [f"{method} {path} {status} must have no body"]
        if body is None:
            return [f"{method} {path} {status} needs a JSON body"]
        return [f"{method} {path} {status}: {p}" for p in self._validate(schema, body)]

    def check_request(self, method: str, path: str, body: Any) -> list[str]:
        schema = self.request_schema(method, path)
        if schema is None or body is None:
            return []
        return [f"request {method} {path}: {p}" for p in self._validate(schema, body)]


_VALIDATORS: dict[tuple[str, int], jsonschema.protocols.Validator] = {}


def _validator(schema_json: str, spec_id: int, checker: OpenAPIChecker):
    key = (schema_json, spec_id)
    if key not in _VALIDATORS:
        # Local `#/components/...` references resolve against the whole spec document.
        schema = {**json.loads(schema_json), "components": checker.spec["components"]}
        _VALIDATORS[key] = jsonschema.Draft4Validator(schema, format_checker=_FORMATS)
    return _VALIDATORS[key]


@cache
def _projects_list_schema() -> dict[str, Any]:
    # GET /projects (used only to recover a project whose creation lost its answer):
    # a `projects` array of Project-like items. ProjectListItem is not in the subset.
    return {
        "type": "object",
        "required": ["projects"],
        "properties": {
            "projects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "created_at", "region_id"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
            }
        },
    }
