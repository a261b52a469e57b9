"""The OpenAPI 3.1 description of the API, served at /api/v1/openapi.json.

Hand-written; `tests/test_api_openapi.py` validates real responses of every endpoint
against it, and runs schemathesis over it.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from django.conf import settings

ERROR_CODES = [
    "invalid",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "busy",
    "not_ready",
    "version_deleted",
    "version_expired",
    "preview_gone",
    "diff_unavailable",
    "sql_failed",
    "statement_timeout",
    "cancelled",
    "not_running",
    "snapshot_limit",
    "snapshot_quota",
    "snapshot_refused",
    "name_taken",
    "job_failed",
    "engine_error",
    "engine_timeout",
    "internal",
]

TIME = {"type": ["string", "null"], "format": "date-time"}
STRING_OR_NULL = {"type": ["string", "null"]}
INT_OR_NULL = {"type": ["integer", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {
            "code": {"type": "string", "enum": ERROR_CODES},
            "message": {"type": "string"},
            "details": {"type": "object", "additionalProperties": {"type": "string"}},
            "job_id": INT_OR_NULL,
            "job": _ref("Job"),
        },
        optional=("details", "job_id", "job"),
    ),
    "Team": _obj({"id": {"type": "integer"}, "name": {"type": "string"}}),
    "Project": _obj(
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "team": _ref("Team"),
            "role": {"type": ["string", "null"], "enum": ["viewer", "operator", "owner", None]},
            "engine": {"type": "string"},
            "ready": {"type": "boolean", "description": "The engine project exists (v0 saved)."},
            "current_version": INT_OR_NULL,
            "snapshots": {
                "description": "Snapshot capacity as the last job saw it: `limit` (null: the "
                "engine sets none) and `used`; null before the first listing.",
                "oneOf": [
                    {"type": "null"},
                    _obj({"limit": INT_OR_NULL, "used": {"type": "integer"}, "as_of": TIME}),
                ],
            },
            "created_at": TIME,
            "url": {"type": "string"},
        }
    ),
    "ProjectList": _obj({"items": {"type": "array", "items": _ref("Project")}}),
    "Version": _obj(
        {
            "number": {"type": "integer", "minimum": 0},
            "name": {"type": "string"},
            "prompt": {"type": "string"},
            "parent": INT_OR_NULL,
            "current": {"type": "boolean"},
            "created_at": TIME,
            "created_by": STRING_OR_NULL,
            "expires_at": TIME,
            "deleted_at": TIME,
            "deleted_by": STRING_OR_NULL,
            "snapshot_id": {"type": "string"},
        }
    ),
    "VersionList": _obj({"items": {"type": "array", "items": _ref("Version")}}),
    "Preview": _obj(
        {
            "id": {"type": "integer"},
            "version": {"type": "integer"},
            "live": {"type": "boolean"},
            "created_at": TIME,
            "expires_at": TIME,
            "discarded_at": TIME,
            "url": {"type": "string"},
            "connection_uri": {
                "type": "string",
                "description": "Only on GET of a live preview, for operators and owners.",
            },
        },
        optional=("connection_uri",),
    ),
    "PreviewList": _obj({"items": {"type": "array", "items": _ref("Preview")}}),
    "Share": _obj(
        {
            "id": {"type": "integer"},
            "version": {"type": "integer"},
            "live": {"type": "boolean", "description": "Not revoked and not expired."},
            "created_by": STRING_OR_NULL,
            "created_at": TIME,
            "expires_at": TIME,
            "revoked_at": TIME,
            "open_count": {"type": "integer"},
            "first_opened_at": TIME,
            "url": {"type": "string"},
            "link": {
                "type": "string",
                "description": "The public read-only link /s/<token>: only in the create answer.",
            },
            "token": {"type": "string", "description": "Only in the create answer; not stored."},
        },
        optional=("link", "token"),
    ),
    "ShareList": _obj({"items": {"type": "array", "items": _ref("Share")}}),
    "ShareCreate": {
        "type": "object",
        "properties": {
            "version": {"type": "integer", "minimum": 0},
            "hours": {
                "type": "integer",
                "minimum": 1,
                "maximum": 168,
                "description": "When the link expires (default 24 hours, at most 7 days).",
            },
        },
        "required": ["version"],
        "additionalProperties": False,
    },
    "Diff": _obj(
        {
            "from": {"type": "integer"},
            "to": {"type": "integer"},
            "summary": {"type": "string", "description": "e.g. “drops columns role, tags”"},
            "tables_added": {"type": "array", "items": {"type": "string"}},
            "tables_removed": {"type": "array", "items": {"type": "string"}},
            "tables": {
                "type": "object",
                "description": "Per changed table: columns_added, columns_removed, "
                "columns_changed ({column: [old type, new type]}), rows_added, rows_removed, "
                "rows_changed (same count, different checksum).",
                "additionalProperties": {"type": "object"},
            },
            "empty": {"type": "boolean"},
        }
    ),
    "Step": _obj(
        {
            "name": {"type": "string"},
            "state": {"type": "string"},
            "detail": {"type": "string"},
            "started_at": STRING_OR_NULL,
            "finished_at": STRING_OR_NULL,
            "duration_ms": INT_OR_NULL,
        }
    ),
    "Job": _obj(
        {
            "id": {"type": "integer"},
            "project": {"type": "integer"},
            "kind": {
                "type": "string",
                "enum": [
                    "create_project",
                    "create_version",
                    "version_delete",
                    "rollback",
                    "preview_open",
                    "preview_discard",
                    "start_demo",
                    "start_over",
                    "cleanup",
                    "share_open",
                ],
            },
            "state": {
                "type": "string",
                "enum": ["queued", "running", "succeeded", "failed", "cancelled"],
            },
            "finished": {"type": "boolean"},
            "cancel_requested": {
                "type": "boolean",
                "description": "An operator asked to cancel; the job stops at a safe point.",
            },
            "steps": {"type": "array", "items": _ref("Step")},
            "error": {
                "oneOf": [
                    {"type": "null"},
                    _obj({"code": {"type": "string"}, "message": {"type": "string"}}),
                ]
            },
            "version": {"oneOf": [{"type": "null"}, _ref("Version")]},
            "preview": {"oneOf": [{"type": "null"}, _ref("Preview")]},
            "created_at": TIME,
            "started_at": TIME,
            "finished_at": TIME,
            "duration_ms": INT_OR_NULL,
            "url": {"type": "string"},
        }
    ),
    "Connection": _obj(
        {
            "connection_uri": {"type": "string", "description": "Carries a password."},
            "project": {"type": "integer"},
        }
    ),
    "ProjectCreate": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "team": {"type": "integer", "minimum": 0, "description": "Default: personal team."},
        },
        "required": ["name"],
        "additionalProperties": False,
    },
    "VersionCreate": {
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 10000},
            "sql": {
                "type": "string",
                "description": "Applied to the active branch first, in one transaction.",
            },
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
        },
        "required": ["prompt"],
        "additionalProperties": False,
    },
    "VersionRename": {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}},
        "required": ["name"],
        "additionalProperties": False,
    },
    "PreviewOpen": {
        "type": "object",
        "properties": {"version": {"type": "integer", "minimum": 0}},
        "required": ["version"],
        "additionalProperties": False,
    },
}

_DESCRIPTIONS = {
    "200": "OK",
    "201": "Created.",
    "202": "Accepted: the job runs; poll `Location`.",
    "204": "Deleted.",
    "400": "`invalid`: see `details`, one message per field.",
    "401": "`unauthorized`: no, unknown or revoked token.",
    "403": "`forbidden`: your role in the team does not allow this.",
    "404": "`not_found`: missing, or not yours.",
    "405": "`method_not_allowed`.",
    "409": "`busy` (another job runs on the project), `not_ready`, `not_running` (the job "
    "to cancel has ended), `name_taken` (another version has that name), `snapshot_limit` / "
    "`snapshot_quota` (the engine has no room for another snapshot: nothing was applied, the "
    "live database is as before) or (after `?wait=true`) `cancelled`.",
    "422": "`version_deleted`, `version_expired`, `preview_gone`, `diff_unavailable`, "
    "or (after `?wait=true`) `sql_failed`, `statement_timeout`, `snapshot_refused`.",
    "502": "`engine_error` / `job_failed` (the engine failed).",
    "504": "`engine_timeout`.",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _responses(ok: dict[str, str], *errors: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, schema in ok.items():
        entry: dict[str, Any] = {"description": _DESCRIPTIONS[status]}
        if schema:
            entry["content"] = _json(_ref(schema))
        if status == "202":
            entry["headers"] = {"Location": {"schema": {"type": "string"}}}
        out[status] = entry
    for status in ("401", "404", "405", *errors):
        out[status] = {"description": _DESCRIPTIONS[status], "content": _json(_ref("Error"))}
    return out


def _op(summary: str, ok: dict[str, str], *errors: str, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": _responses(ok, *errors), **extra}


def _body(schema: str, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": _json(_ref(schema))}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


WAIT = [
    {
        "name": "wait",
        "in": "query",
        "description": "Wait for the job to finish and answer its outcome. The wait is "
        "bounded (`wait_seconds`) and each token holds at most a few waits at once: past "
        "either bound the answer is 202 with `Location` to poll.",
        "schema": {"type": "boolean"},
    },
    {
        "name": "wait_seconds",
        "in": "query",
        "description": "How long to wait at most (default and maximum: the server's bound).",
        "schema": {"type": "number", "minimum": 0, "maximum": 60},
    },
]
JOB_OK = {"200": "Job", "202": "Job"}
#: After `?wait=true` a failed job answers with its own error.
JOB_FAILED = ("409", "422", "502", "504")
PROJECT = [_path_param("project_id", "The project's id.")]
VERSION = [*PROJECT, _path_param("number", "The version's number (v<number>).")]


def _paths() -> dict[str, Any]:
    base = "/api/v1/projects/{project_id}"
    return {
        "/api/v1/projects": {
            "get": _op("Your projects", {"200": "ProjectList"}),
            "post": _op(
                "Create a project: engine project and an empty v0 (a job)",
                JOB_OK,
                "400",
                "403",
                *JOB_FAILED,
                parameters=WAIT,
                requestBody=_body("ProjectCreate"),
            ),
        },
        base: {
            "parameters": PROJECT,
            "get": _op("A project", {"200": "Project"}),
            "delete": _op(
                "Delete a project and its engine project (owners)",
                {"204": ""},
                "403",
                "409",
                "502",
                "504",
            ),
        },
        f"{base}/connection": {
            "parameters": PROJECT,
            "get": _op(
                "The active branch's connection string: it never changes (carries a password)",
                {"200": "Connection"},
                "403",
                "409",
                "502",
                "504",
            ),
        },
        f"{base}/connection/rotate": {
            "parameters": PROJECT,
            "post": _op(
                "A new password for the connection string (owners): the old one stops "
                "working and its sessions end; answers the new string",
                {"200": "Connection"},
                "403",
                "409",
                "502",
                "504",
            ),
        },
        f"{base}/versions": {
            "parameters": PROJECT,
            "get": _op(
                "Versions, oldest first",
                {"200": "VersionList"},
                "400",
                parameters=[
                    {
                        "name": "deleted",
                        "in": "query",
                        "description": "Include deleted versions (the history).",
                        "schema": {"type": "boolean"},
                    }
                ],
            ),
            "post": _op(
                "Save a version: apply `sql` (optional, one transaction), snapshot, record",
                JOB_OK,
                "400",
                "403",
                "409",
                *JOB_FAILED,
                parameters=WAIT,
                requestBody=_body("VersionCreate"),
            ),
        },
        f"{base}/versions/{{number}}": {
            "parameters": VERSION,
            "get": _op("A version (deleted ones too)", {"200": "Version"}),
            "patch": _op(
                "Rename a version (and its engine snapshot)",
                {"200": "Version"},
                "400",
                "403",
                "409",
                "422",
                "502",
                "504",
                requestBody=_body("VersionRename"),
            ),
            "delete": _op(
                "Delete a version's snapshot; the version stays in the history, marked deleted",
                JOB_OK,
                "400",
                "403",
                "409",
                *JOB_FAILED,
                parameters=WAIT,
            ),
        },
        f"{base}/versions/{{number}}/rollback": {
            "parameters": VERSION,
            "post": _op(
                "Roll the active branch back to this version; the connection string stays",
                JOB_OK,
                "400",
                "403",
                "409",
                *JOB_FAILED,
                parameters=WAIT,
            ),
        },
        f"{base}/diff": {
            "parameters": PROJECT,
            "get": _op(
                "Schema diff between two versions (needs stored manifests)",
                {"200": "Diff"},
                "400",
                "422",
                parameters=[
                    {"name": n, "in": "query", "required": True, "schema": {"type": "integer"}}
                    for n in ("from", "to")
                ],
            ),
        },
        f"{base}/previews": {
            "parameters": PROJECT,
            "get": _op("Live previews", {"200": "PreviewList"}),
            "post": _op(
                "Open a preview of a version on a temporary branch",
                JOB_OK,
                "400",
                "403",
                "409",
                *JOB_FAILED,
                parameters=WAIT,
                requestBody=_body("PreviewOpen"),
            ),
        },
        f"{base}/previews/{{preview_id}}": {
            "parameters": [*PROJECT, _path_param("preview_id", "The preview's id.")],
            "get": _op(
                "A preview, with its connection string while live (operators, owners)",
                {"200": "Preview"},
                "422",
                "502",
                "504",
            ),
            "delete": _op(
                "Discard a preview (deletes its branch)",
                JOB_OK,
                "400",
                "403",
                "409",
                *JOB_FAILED,
                parameters=WAIT,
            ),
        },
        f"{base}/shares": {
            "parameters": PROJECT,
            "get": _op(
                "Live share links (read-only links to a version's app)", {"200": "ShareList"}
            ),
            "post": _op(
                "Share a version: a read-only link that needs no account (operators, owners)",
                {"201": "Share"},
                "400",
                "403",
                "422",
                requestBody=_body("ShareCreate"),
            ),
        },
        f"{base}/shares/{{share_id}}": {
            "parameters": [*PROJECT, _path_param("share_id", "The share link's id.")],
            "get": _op("A share link (live or ended)", {"200": "Share"}),
            "delete": _op("Revoke a share link at once", {"200": "Share"}, "403"),
        },
        f"{base}/jobs/{{job_id}}": {
            "parameters": [*PROJECT, _path_param("job_id", "The job's id.")],
            "get": _op(
                "A job's state and steps (poll this)", {"200": "Job"}, "400", parameters=WAIT
            ),
        },
        f"{base}/jobs/{{job_id}}/cancel": {
            "parameters": [*PROJECT, _path_param("job_id", "The job's id.")],
            "post": _op(
                "Cancel a job (operators, owners). A queued job ends `cancelled` at once "
                "(200). A running one is asked to stop (202): its running SQL statement is "
                "cancelled and rolled back, and it ends `cancelled` with nothing applied; a "
                "job already past its last safe point (a swap under way) finishes normally.",
                JOB_OK,
                "403",
                "409",
            ),
        },
    }


def openapi_document() -> dict[str, Any]:
    wait_max = float(getattr(settings, "CHECKPOINTS_API_WAIT_SECONDS", 60))
    document = deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Checkpoints agent API",
                "version": "1.0.0",
                "description": (
                    "Save a version of an agent project's database after each step, roll "
                    "back, and preview versions. Long actions answer 202 with a job to poll "
                    "(`Location`), or wait with `?wait=true`. Errors are "
                    "`{code, message}` with a stable `code`."
                ),
            },
            "servers": [{"url": "/"}],
            "security": [{"bearerAuth": []}],
            "paths": _paths(),
            "components": {
                "schemas": SCHEMAS,
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A token from Settings → API tokens.",
                    }
                },
            },
        }
    )
    for parameters in _parameter_lists(document):
        for parameter in parameters:
            if parameter["name"] == "wait_seconds":
                parameter["schema"]["maximum"] = wait_max
    return document


def _parameter_lists(document: dict[str, Any]):
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "parameters" in operation:
                yield operation["parameters"]
