"""An API operation declared once (`Op`): its method, path, operationId, the view that
answers it, its answers' shapes and its refusals; `add()` gives it to ninja, which routes
it, validates its path and body, and documents it.

The query parameters and the `Idempotency-Key` header are declared here once each
(`QUERY`), documented by ninja; their values are read by the views (`api.inputs`,
`paging`), which say their refusals in the API's sentences.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from ninja import Body, Header, NinjaAPI, Path, Query
from ninja.constants import NOT_SET
from pydantic import WithJsonSchema

UNAUTHORIZED = "`unauthorized`: no, unknown or revoked token."
NOT_FOUND = "`not_found`: missing, or not yours."
METHOD = "`method_not_allowed`."
INVALID = "`invalid`: see `details`, one message per field."
INVALID_NUL = "`invalid`: a query value holds a NUL character (PostgreSQL cannot store one)."
FORBIDDEN = (
    "`forbidden`: your role in the team does not allow this. `read_only_token`: this token "
    "only reads. `token_scope`: this token is limited to some projects."
)
ENGINE = "`engine_error` / `job_failed` (the engine failed)."
ENGINE_TIMEOUT = "`engine_timeout`."
ACCEPTED = "Accepted: the job runs; poll `Location`."
#: Refusals several operations give, said once.
BUSY_ENGINE = "`busy` (another job runs on the project, or the engine is busy with it), `not_ready`. `idempotency_in_progress`: a request with this `Idempotency-Key` still runs."
BUSY_REFUSED = "`busy` (another job runs on the project), `not_ready`, `not_running` (the job to cancel has ended), `name_taken` (another version has that name), `snapshot_limit` / `snapshot_quota` (the engine has no room for another snapshot: nothing was applied, the live database is as before) or (after `?wait=true`) `cancelled`. `idempotency_in_progress`: a request with this `Idempotency-Key` still runs."
FORBIDDEN_SHORT = "`forbidden`."
INVALID_OR_NUL = (
    "`invalid`: see `details`, one message per field (also: a query value holds a NUL character)."
)
INVALID_SHORT = "`invalid`: see `details`."
KEY_REUSED = "`idempotency_key_reused`: the `Idempotency-Key` was sent with another request."
NOT_RECORDING = "`not_supported`: this project's server does not record destructive statements (an external server, Neon), or cannot go back to a past transaction."
NOT_SUPPORTED = "`not_supported`: the project's engine cannot do this (the Neon engine has no SQL reader or copies here)."
STATE_REFUSED = "`version_deleted`, `version_expired`, `preview_gone`, `diff_unavailable`, or (after `?wait=true`) `sql_failed`, `statement_timeout`, `snapshot_refused`. `idempotency_key_reused`: the `Idempotency-Key` was sent with another request."
RETRY_AFTER = {
    "description": "With `busy`: seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
}

#: The mark of a body's schema in ninja's document: its model's name (`documented`).
BODY_MODEL = "x-body-model"

_ID = "The {}'s id."
#: Each path parameter: the view's argument it is given as, and its description.
PATH: dict[str, tuple[str, str]] = {
    "project_id": ("pk", _ID.format("project")),
    "number": ("number", "The version's number (v<number>)."),
    "preview_id": ("preview_pk", _ID.format("preview")),
    "share_id": ("share_pk", _ID.format("share link")),
    "job_id": ("job_pk", _ID.format("job")),
    "migration_id": ("migration_pk", _ID.format("migration")),
    "team_id": ("team_id", _ID.format("team")),
    "account_id": ("account_id", "The Neon account's id (an engine connection of the team)."),
    "event_id": ("event_pk", "The event's id (from listEvents)."),
    "snapshot_id": ("snapshot_id", "The Neon snapshot's id (one the project held when adopted)."),
}


def _query(schema: dict[str, Any], description: str | None = None, **extra: Any) -> Any:
    """A query value as given (the view reads and checks it, a missing one too), documented
    by `schema`."""
    return Annotated[
        str | None, WithJsonSchema(schema), Query(None, description=description, **extra)
    ]


_BOOLEAN = {"type": "boolean"}
#: Each query parameter and header: its Python name, its annotation, whether required.
QUERY: dict[str, tuple[str, Any, bool]] = {
    "page": ("page", _query(
        {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
        "Which page of the list, from 1 (a page past the last is empty).",
    ), False),
    "per_page": ("per_page", _query(
        {"type": "integer", "minimum": 1, "maximum": 100},
        "Items per page (default 50, at most 100).",
    ), False),
    "wait": ("wait", _query(
        _BOOLEAN,
        "Wait for the job to finish and answer its outcome. The wait is bounded "
        "(`wait_seconds`) and each token holds at most a few waits at once: past either "
        "bound the answer is 202 with `Location` to poll.",
    ), False),
    "wait_seconds": ("wait_seconds", _query(
        {"type": "number", "minimum": 0, "maximum": 60},
        "How long to wait at most (default and maximum: the server's bound).",
    ), False),
    "reveal": ("reveal", _query(
        _BOOLEAN, "Show the password (masked by default; the token must allow it)."
    ), False),
    "deleted": ("deleted", _query(_BOOLEAN, "Include deleted versions (the history)."), False),
    "label": ("label", _query(  # repeated: the view reads every value (`getlist`)
        {"type": "array", "items": {"type": "string", "maxLength": 300}, "maxItems": 20},
        "Only versions with this label: `key:value`, or `key` for any value "
        "(repeat to require several).",
    ), False),
    "from": ("from_", _query({"type": "integer"}, alias="from"), True),
    "to": ("to", _query({"type": "integer"}), True),
    "version": ("version", _query({"type": "integer", "minimum": 0}), False),
    "Idempotency-Key": ("idempotency_key", Annotated[
        str | None,
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}),
        Header(
            None,
            alias="Idempotency-Key",
            description="Any unique string (1 to 255 visible ASCII characters): a retry with "
            "the same key answers the first answer and does nothing twice.",
        ),
    ], False),
}  # fmt: skip


@dataclass(frozen=True)
class Op:
    """One operation: `answers` {status: (shape, description)} where a shape is a model, a
    component's name, an inline schema or None (no body); `refusals` {status: description}
    (each an `Error`)."""

    method: str
    path: str  # ninja's, with Django's converters: /api/v1/projects/{int:project_id}
    operation_id: str
    view: Callable[..., HttpResponse]
    summary: str
    answers: dict[int, tuple[Any, str]]
    refusals: dict[int, str]
    body: type | None = None
    query: tuple[str, ...] = ()
    description: str | None = None
    name: str | None = None


def _handler(op: Op, path_names: list[str]) -> Callable[..., HttpResponse]:
    """The function ninja calls: its signature declares the path, query and body (which
    the view validates: `inputs.body_as`); it runs the view with the path's values."""

    def handler(request: HttpRequest, **given: Any) -> HttpResponse:
        return op.view(request, **{PATH[name][0]: given[PATH[name][0]] for name in path_names})

    def path_parameter(name: str) -> inspect.Parameter:
        kind = str if name == "snapshot_id" else int
        limits = {"min_length": 1, "max_length": 100} if kind is str else {"ge": 0}
        annotation = Annotated[kind, Path(description=PATH[name][1], **limits)]
        # named as the view's argument: the URL pattern's (`documented` names it as `op.path`)
        python = PATH[name][0]
        return inspect.Parameter(python, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)

    parameters = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [path_parameter(name) for name in path_names]
    for name in op.query:  # given as sent; `required` is documented (`documented`)
        python, annotation, _ = QUERY[name]
        parameters.append(
            inspect.Parameter(
                python, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=None
            )
        )
    if op.body is not None:  # documented as its model; the view validates it (`body_as`)
        model = WithJsonSchema({BODY_MODEL: op.body.__name__})  # `documented` refers to it
        annotation = Annotated[dict[str, Any] | None, model, Body(None)]
        parameters.append(
            inspect.Parameter(
                "body", inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=None
            )
        )
    handler.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    handler.__name__ = handler.__qualname__ = op.operation_id
    return handler


def _documented(code: int, shape: Any, description: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if isinstance(shape, str):
        shape = {"$ref": f"#/components/schemas/{shape}"}
    if isinstance(shape, dict):
        answer["content"] = {"application/json": {"schema": shape}}
    if code == 202:
        answer["headers"] = {"Location": {"schema": {"type": "string"}}}
    if code == 409:
        answer["headers"] = {"Retry-After": RETRY_AFTER}
    return answer


def add(api: NinjaAPI, op: Op) -> None:
    """Give `op` to ninja: routed, validated, documented."""
    path_names = [part.split(":")[-1] for part in re.findall(r"\{([^}]+)\}", op.path)]
    models = {
        code: shape if isinstance(shape, type) else None for code, (shape, _) in op.answers.items()
    }
    responses = {code: _documented(code, shape, text) for code, (shape, text) in op.answers.items()}
    # `Error` by name: its `migration` refers to a component no model declares yet
    responses |= {code: _documented(code, "Error", text) for code, text in op.refusals.items()}
    routed = re.sub(r"\{(\w+):(\w+)\}", lambda m: f"{{{m[1]}:{PATH[m[2]][0]}}}", op.path)
    api.api_operation(
        [op.method],
        routed,
        response=models or NOT_SET,
        operation_id=op.operation_id,
        summary=op.summary,
        description=op.description,
        url_name=op.name,
        openapi_extra={"responses": responses}
        | ({"requestBody": {"required": True}} if op.body else {}),
    )(_handler(op, path_names))


def documented(paths: dict[str, Any]) -> dict[str, Any]:
    """ninja's generated `paths`, each path parameter named as `Op.path` names it (ninja
    routes it by the view's argument, the URL pattern's kwarg), each body referring to its
    model's component, and each query parameter the view requires marked `required`
    (ninja gives it as sent, missing too: the view names every refusal at once)."""
    public = {python: name for name, (python, _) in PATH.items()}
    paths = {
        re.sub(r"\{(\w+)\}", lambda m: f"{{{public.get(m[1], m[1])}}}", path): operations
        for path, operations in paths.items()
    }
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    parameter["name"] = public.get(parameter["name"], parameter["name"])
            for content in operation.get("requestBody", {}).get("content", {}).values():
                name = content["schema"][BODY_MODEL]
                content["schema"] = {"$ref": f"#/components/schemas/{name}"}
            for parameter in operation.get("parameters", []):
                known = QUERY.get(parameter["name"])
                if parameter["in"] == "query" and known and known[2]:
                    parameter["required"] = True
    return paths
