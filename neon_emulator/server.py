"""A Neon API v2 emulator over real HTTP, backed by any `Engine` (the local engine, or the
in-memory `FakeBackend`).

The backend does the real work at request time; the emulator reports Neon's shapes and
Neon's timing on top of it:

- operations move `scheduling -> running -> finished` over `op_duration` seconds (only the
  reported status is delayed), or follow an injected failure plan (`fail_operations`);
- a mutation that would start operations while another operation of the project is not
  terminal gets 423 with Neon's exact message;
- 429 with `Retry-After` past `rate_limit` requests per `rate_window` seconds;
- on-demand faults (`inject`): an error status for the next N matching requests, slow
  answers, connections dropped before or after the request was applied;
- Neon's limits: at most `snapshot_limit` manual snapshots per project (422, nothing
  made), unique snapshot names (409), and `refuse_snapshots` for a quota or any other
  4xx on the next snapshots;
- optional checking of every exchange against the OpenAPI subset (`checker`).

Only the subset of the API that `checkpoints.engines.neon.NeonEngine` uses is served.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from checkpoints.engines.base import Branch, Endpoint, Engine, Project, Snapshot
from checkpoints.engines.errors import (
    EngineError,
    EngineInvalidRequest,
    EngineLocked,
    EngineNotFound,
    EngineNotSupported,
)
from checkpoints.engines.operations import wait_for_operations

logger = logging.getLogger(__name__)

LOCKED_MESSAGE = (
    "project already has running conflicting operations, scheduling of new ones is prohibited"
)
AUTH_MESSAGE = "supplied credentials do not pass authentication"
SNAPSHOT_LIMIT_MESSAGE = (
    "snapshots limit exceeded: the project already has {used} manual snapshots (limit {limit})"
)
SNAPSHOT_NAME_TAKEN = "snapshot with name {name!r} already exists"
#: What `refuse_snapshots` answers, by reason: (status, message).
REFUSALS = {
    "limit": (422, "snapshots limit exceeded"),
    "quota": (403, "project data size quota exceeded: snapshots cannot be created"),
    "refused": (400, "snapshot could not be created: branch is not eligible"),
}
BASE_PATH = "/api/v2"
REGION = "aws-us-east-2"

# Failure plans for operations (see `fail_operations`).
NORMAL = "normal"
RETRY = "retry"  # failed (failures_count 1, retry_at set), then retried to finished
STAY_FAILED = "stay_failed"  # failed, no retry pending, forever
ERROR = "error"  # error, forever
HANG = "hang"  # running forever
CANCEL = "cancel"  # cancelling, then cancelled (the backend's work was done regardless)


class _Reply(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Fault:
    kind: str  # "status" | "drop" | "drop_after" | "slow"
    path: re.Pattern[str]
    method: str | None = None
    count: int = 1
    status: int = 503
    message: str = "service unavailable"
    retry_after: float | None = None
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and bool(self.path.search(path))


@dataclass
class _Phase:
    at: float  # seconds after creation
    status: str
    failures_count: int = 0
    error: str | None = None
    retry_at: float | None = None  # seconds after creation


@dataclass
class EmulatedOperation:
    id: str
    project_id: str
    action: str
    created: float  # wall clock (time.time())
    phases: list[_Phase]
    branch_id: str | None = None
    endpoint_id: str | None = None

    def phase(self, now: float) -> _Phase:
        current = self.phases[0]
        for phase in self.phases:
            if now - self.created >= phase.at:
                current = phase
        return current

    @property
    def finished_at(self) -> float | None:
        last = self.phases[-1]
        return self.created + last.at if last.status == "finished" else None

    def to_json(self, now: float) -> dict[str, Any]:
        phase = self.phase(now)
        end = self.phases[-1].at if self.phases[-1].status in ("finished", "error") else None
        elapsed = now - self.created if end is None else min(now - self.created, end)
        body: dict[str, Any] = {
            "id": self.id,
            "project_id": self.project_id,
            "action": self.action,
            "status": phase.status,
            "failures_count": phase.failures_count,
            "created_at": _ts(self.created),
            "updated_at": _ts(self.created + phase.at),
            "total_duration_ms": int(max(0.0, elapsed) * 1000),
        }
        if self.branch_id:
            body["branch_id"] = self.branch_id
        if self.endpoint_id:
            body["endpoint_id"] = self.endpoint_id
        if phase.error:
            body["error"] = phase.error
        if phase.retry_at is not None:
            body["retry_at"] = _ts(self.created + phase.retry_at, ceil=True)
        return body


@dataclass
class _ProjectMeta:
    project: Project
    org_id: str | None
    database_name: str
    role_name: str
    operations: list[str] = field(default_factory=list)
    #: branch id -> roles created on that branch through the API (they exist nowhere else)
    branch_roles: dict[str, set[str]] = field(default_factory=dict)


class NeonEmulator:
    """Serve the Neon API subset on 127.0.0.1 over HTTP. Use as a context manager."""

    def __init__(
        self,
        backend: Engine,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        op_duration: float = 0.2,
        op_durations: dict[str, float] | None = None,
        retry_delay: float | None = None,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
        checker: Any = None,
        clock: Callable[[], float] = time.time,
        snapshot_limit: int | None = None,
    ) -> None:
        self.backend = backend
        #: Manual snapshots a project may hold (None: no limit); change it at any time.
        self.snapshot_limit = snapshot_limit
        self.api_key = api_key
        self.op_duration = op_duration
        self.op_durations = dict(op_durations or {})
        self.retry_delay = retry_delay
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.checker = checker
        self.clock = clock
        self.schema_errors: list[str] = []
        #: (method, path, status) of every answered request, in order.
        self.requests: list[tuple[str, str, int]] = []
        self._faults: list[Fault] = []
        self._op_plans: list[tuple[str | None, str, int, str]] = []
        self._projects: dict[str, _ProjectMeta] = {}
        self._operations: dict[str, EmulatedOperation] = {}
        self._recent: deque[float] = deque()
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The NEON_API_URL to give a client."""
        return f"http://{self._server.server_address[0]}:{self.port}{BASE_PATH}"

    def start(self) -> NeonEmulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="neon-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> NeonEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------- test controls

    def inject(
        self,
        kind: str,
        *,
        path: str = "",
        method: str | None = None,
        count: int = 1,
        status: int = 503,
        message: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Fault for the next `count` requests whose path matches the regex `path`.

        kind: "status" (answer `status`; 423 and 429 get Neon's messages), "drop" (close
        the connection without applying the request), "drop_after" (apply it, then close
        the connection without an answer), "slow" (wait `delay` seconds, then answer)."""
        if kind not in ("status", "drop", "drop_after", "slow"):
            raise ValueError(f"unknown fault kind {kind!r}")
        default_message = {423: LOCKED_MESSAGE, 429: "rate limit exceeded"}.get(
            status, "service unavailable"
        )
        fault = Fault(
            kind=kind,
            path=re.compile(path),
            method=method,
            count=count,
            status=status,
            message=message or default_message,
            retry_after=retry_after,
            delay=delay,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_operations(
        self,
        mode: str,
        *,
        action: str | None = None,
        count: int = 1,
        error: str = "injected failure",
    ) -> None:
        """The next `count` operations (of `action`, or any) follow a failure plan:
        RETRY, STAY_FAILED, ERROR, HANG or CANCEL."""
        with self._lock:
            self._op_plans.append((action, mode, count, error))

    def refuse_snapshots(self, reason: str = "quota", *, count: int = 1) -> Fault:
        """The next `count` snapshot creations are refused with Neon's 4xx for `reason`
        ("limit", "quota" or "refused"); nothing is made."""
        status, message = REFUSALS[reason]
        return self.inject(
            "status", path=r"/snapshot$", method="POST", count=count, status=status,
            message=message,
        )  # fmt: skip

    def engine_requests(self, since: int = 0) -> list[tuple[str, str, int]]:
        """Requests answered since index `since` of `requests` (count API calls)."""
        with self._lock:
            return list(self.requests[since:])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._op_plans.clear()

    def operation_finished_at(self, operation_id: str) -> float | None:
        """Wall-clock time (time.time()) at which the operation reports `finished`."""
        op = self._operations.get(operation_id)
        return op.finished_at if op else None

    def project_ids(self) -> list[str]:
        with self._lock:
            return list(self._projects)

    def drop_project(self, project_id: str) -> None:
        """Delete a project behind the API's back (test cleanup); gone already is fine."""
        with self._lock:
            meta = self._projects.pop(project_id, None)
            if meta is None:
                return
            for op_id in meta.operations:
                self._operations.pop(op_id, None)
            try:
                self.backend.project_delete(project_id)
            except EngineNotFound:
                pass

    def project_operations(self, project_id: str) -> list[EmulatedOperation]:
        meta = self._projects.get(project_id)
        return [self._operations[i] for i in meta.operations] if meta else []

    # ------------------------------------------------------------- HTTP entry

    def handle(self, handler: _Handler) -> None:
        method = handler.command
        split = urlsplit(handler.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        request_id = handler.headers.get("X-Request-ID") or str(uuid.uuid4())

        fault = self._take_fault(method, path)
        if fault and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault and fault.kind == "drop":
            self._drop(handler, method, path)
            return

        if not path.startswith(BASE_PATH):
            self._send(handler, method, path, 404, _error("not found", request_id), request_id)
            return
        api_path = path[len(BASE_PATH) :] or "/"
        try:
            self._check_auth(handler)
            self._check_rate()
            if fault and fault.kind == "status":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = _format_seconds(fault.retry_after)
                raise _Reply(fault.status, fault.message, headers)
            body = json.loads(raw) if raw else None
            if self.checker is not None and body is not None:
                self._record(self.checker.check_request(method, api_path, body))
            with self._lock:
                status, payload = self._dispatch(method, api_path, query, body)
            headers = {}
        except _Reply as reply:
            status, payload, headers = (
                reply.status,
                _error(reply.message, request_id),
                reply.headers,
            )
        except EngineError as exc:
            status, payload, headers = (
                _engine_error_status(exc),
                _error(exc.message, request_id),
                {},
            )
        except json.JSONDecodeError:
            status, payload, headers = 400, _error("invalid request: bad JSON", request_id), {}

        if self.checker is not None:
            self._record(self.checker.check_response(method, api_path, status, payload))
        if fault and fault.kind == "drop_after":
            self._drop(handler, method, path)
            return
        self._send(handler, method, api_path, status, payload, request_id, headers)

    def _record(self, problems: list[str]) -> None:
        if problems:
            logger.error("emulator schema mismatch: %s", problems)
            self.schema_errors.extend(problems)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _check_auth(self, handler: _Handler) -> None:
        header = handler.headers.get("Authorization") or ""
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not token or (self.api_key is not None and token != self.api_key):
            raise _Reply(401, AUTH_MESSAGE)

    def _check_rate(self) -> None:
        if not self.rate_limit:
            return
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= self.rate_window:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                wait = self.rate_window - (now - self._recent[0])
                raise _Reply(429, "rate limit exceeded", {"Retry-After": _format_seconds(wait)})
            self._recent.append(now)

    def _drop(self, handler: _Handler, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path, 0))
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(
        self,
        handler: _Handler,
        method: str,
        path: str,
        status: int,
        payload: Any,
        request_id: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        with self._lock:
            self.requests.append((method, path, status))
        data = b"" if payload is None else json.dumps(payload).encode()
        handler.send_response(status)
        if payload is not None:
            handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("x-neon-ret-request-id", request_id)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        if data:
            handler.wfile.write(data)

    # ---------------------------------------------------------------- routing

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["projects"]:
            if method == "POST":
                return self._project_create(body or {})
            if method == "GET":
                return self._project_search(query)
        if len(parts) < 2 or parts[0] != "projects":
            raise _Reply(404, "not found")
        pid, rest = parts[1], parts[2:]
        meta = self._meta(pid)
        route = (method, *rest[:1], *(["*"] if len(rest) > 1 else []), *rest[2:])
        match route:
            case ("GET",):
                return 200, {"project": _project_json(meta)}
            case ("DELETE",):
                self.backend.project_delete(pid)
                del self._projects[pid]
                return 200, {"project": _project_json(meta)}
            case ("GET", "branches"):
                return self._branch_list(meta, query)
            case ("GET", "branches", "*"):
                branch = self.backend.branch_get(pid, rest[1])
                annotation = {"object": {"type": "console/branch", "id": branch.id}, "value": {}}
                return 200, {"branch": _branch_json(branch), "annotation": annotation}
            case ("PATCH", "branches", "*"):
                name = ((body or {}).get("branch") or {}).get("name")
                if name:
                    branch = self.backend.branch_rename(pid, rest[1], name)
                else:
                    branch = self.backend.branch_get(pid, rest[1])
                return 200, {"branch": _branch_json(branch), "operations": []}
            case ("DELETE", "branches", "*"):
                return self._branch_delete(meta, rest[1])
            case ("POST", "branches", "*", "snapshot"):
                return self._snapshot_create(meta, rest[1], query, body or {})
            case ("GET", "branches", "*", "endpoints"):
                self.backend.branch_get(pid, rest[1])
                endpoints = [e for e in self.backend.endpoint_list(pid) if e.branch_id == rest[1]]
                return 200, {"endpoints": [_endpoint_json(e) for e in endpoints]}
            case ("GET", "branches", "*", "databases"):
                branch = self.backend.branch_get(pid, rest[1])
                return 200, {"databases": [_database_json(meta, branch)]}
            case ("GET", "snapshots"):
                snaps = self.backend.snapshot_list(pid)
                return 200, {"snapshots": [_snapshot_json(s) for s in snaps]}
            case ("PATCH", "snapshots", "*"):
                name = ((body or {}).get("snapshot") or {}).get("name")
                if not name:
                    raise _Reply(400, "invalid request: snapshot.name is required")
                taken = [s for s in self.backend.snapshot_list(pid) if s.name == name]
                if any(s.id != rest[1] for s in taken):
                    raise _Reply(409, SNAPSHOT_NAME_TAKEN.format(name=name))
                return 200, {
                    "snapshot": _snapshot_json(self.backend.snapshot_rename(pid, rest[1], name))
                }
            case ("DELETE", "snapshots", "*"):
                return self._snapshot_delete(meta, rest[1])
            case ("POST", "snapshots", "*", "restore"):
                return self._restore(meta, rest[1], query, body or {})
            case ("GET", "operations"):
                return self._operation_list(meta, query)
            case ("GET", "operations", "*"):
                op = self._operations.get(rest[1])
                if op is None or op.project_id != pid:
                    raise _Reply(404, "operation not found")
                return 200, {"operation": op.to_json(self.clock())}
            case ("GET", "endpoints"):
                endpoints = self.backend.endpoint_list(pid)
                return 200, {"endpoints": [_endpoint_json(e) for e in endpoints]}
            case ("POST", "endpoints"):
                return self._endpoint_create(meta, body or {})
            case ("GET", "connection_uri"):
                return self._connection_uri(meta, query)
            case ("GET", "branches", "*", "roles"):
                branch = self.backend.branch_get(pid, rest[1])
                names = [meta.role_name, *sorted(meta.branch_roles.get(branch.id, ()))]
                return 200, {"roles": [_role_json(branch, name) for name in names]}
            case ("POST", "branches", "*", "roles"):
                return self._role_create(meta, rest[1], body or {})
            case ("POST", "branches", "*", "roles", role, "reset_password"):
                return self._reset_password(meta, rest[1], role)
        raise _Reply(404, f"{method} {path} is not emulated")

    def _meta(self, project_id: str) -> _ProjectMeta:
        meta = self._projects.get(project_id)
        if meta is None:
            raise _Reply(404, "project not found")
        return meta

    # ------------------------------------------------------------- operations

    def _ensure_not_locked(self, meta: _ProjectMeta) -> None:
        now = self.clock()
        for op_id in meta.operations:
            phase = self._operations[op_id].phase(now)
            busy = phase.status in ("scheduling", "running", "cancelling")
            retrying = phase.status == "failed" and phase.retry_at is not None
            if busy or retrying:
                raise _Reply(423, LOCKED_MESSAGE)

    def _plan(self, action: str) -> tuple[str, str]:
        for index, (wanted, mode, count, error) in enumerate(self._op_plans):
            if wanted in (None, action):
                if count <= 1:
                    del self._op_plans[index]
                else:
                    self._op_plans[index] = (wanted, mode, count - 1, error)
                return mode, error
        return NORMAL, ""

    def _new_op(
        self,
        meta: _ProjectMeta,
        action: str,
        *,
        branch_id: str | None = None,
        endpoint_id: str | None = None,
    ) -> dict[str, Any]:
        d = self.op_durations.get(action, self.op_duration)
        r = self.retry_delay if self.retry_delay is not None else d
        mode, error = self._plan(action)
        start = [_Phase(0.0, "scheduling"), _Phase(d * 0.25, "running")]
        phases = {
            NORMAL: [*start, _Phase(d, "finished")],
            RETRY: [
                *start,
                _Phase(d, "failed", 1, error, retry_at=d + r),
                _Phase(d + r, "running", 1, None, retry_at=d + r),
                _Phase(d + r + d / 2, "finished", 1, None, retry_at=d + r),
            ],
            STAY_FAILED: [*start, _Phase(d, "failed", 1, error)],
            ERROR: [*start, _Phase(d, "error", 0, error)],
            HANG: start,
            CANCEL: [*start, _Phase(d * 0.5, "cancelling"), _Phase(d, "cancelled", 0, error)],
        }[mode]
        if d == 0 and mode == NORMAL:
            phases = [_Phase(0.0, "finished")]
        op = EmulatedOperation(
            id=str(uuid.uuid4()),
            project_id=meta.project.id,
            action=action,
            created=self.clock(),
            phases=phases,
            branch_id=branch_id,
            endpoint_id=endpoint_id,
        )
        self._operations[op.id] = op
        meta.operations.append(op.id)
        return op.to_json(op.created)

    def _wait_backend(self, project_id: str, operations: list) -> None:
        if operations:
            wait_for_operations(self.backend, project_id, operations, deadline=120.0)

    def _operation_list(self, meta: _ProjectMeta, query: dict[str, str]) -> tuple[int, Any]:
        limit = _int(query.get("limit"), 10, 1, 1000)
        ops = sorted(
            (self._operations[i] for i in meta.operations),
            key=lambda o: o.created,
            reverse=True,
        )
        cursor = query.get("cursor")
        if cursor:
            ops = [o for o in ops if _ts(o.created, micro=True) < cursor]
        page = ops[:limit]
        now = self.clock()
        last = page[-1].created if page else now
        return 200, {
            "operations": [o.to_json(now) for o in page],
            "pagination": {"cursor": _ts(last, micro=True)},
        }

    # --------------------------------------------------------------- projects

    def _project_create(self, body: dict[str, Any]) -> tuple[int, Any]:
        spec = body.get("project")
        if not isinstance(spec, dict):
            raise _Reply(400, "invalid request: decode application/json: project (field required)")
        branch_spec = spec.get("branch") or {}
        database = branch_spec.get("database_name") or "neondb"
        role = branch_spec.get("role_name") or f"{database}_owner"
        name = spec.get("name") or "project"
        created = self.backend.project_create(name=name)
        self._wait_backend(created.project.id, created.operations)
        meta = _ProjectMeta(created.project, spec.get("org_id"), database, role)
        self._projects[created.project.id] = meta
        ops = [
            self._new_op(meta, "create_timeline", branch_id=created.branch.id),
            self._new_op(
                meta, "start_compute", branch_id=created.branch.id, endpoint_id=created.endpoint.id
            ),
        ]
        uri = self.backend.connection_uri(created.project.id, branch_id=created.branch.id)
        return 201, {
            "project": _project_json(meta),
            "connection_uris": [_connection_details(uri, database, role)],
            "roles": [_role_json(created.branch, role)],
            "databases": [_database_json(meta, created.branch)],
            "operations": ops,
            "branch": _branch_json(created.branch),
            "endpoints": [_endpoint_json(created.endpoint)],
        }

    def _project_search(self, query: dict[str, str]) -> tuple[int, Any]:
        search = query.get("search", "")
        org_id = query.get("org_id")
        found = [
            _project_json(meta)
            for meta in self._projects.values()
            if (search in meta.project.name or search == meta.project.id)
            and (org_id is None or meta.org_id == org_id)
        ]
        limit = _int(query.get("limit"), 10, 1, 400)
        return 200, {"projects": found[:limit], "pagination": {"cursor": ""}}

    # --------------------------------------------------------------- branches

    def _branch_list(self, meta: _ProjectMeta, query: dict[str, str]) -> tuple[int, Any]:
        branches = self.backend.branch_list(meta.project.id)
        search = query.get("search")
        if search:
            branches = [b for b in branches if search in b.name or search in b.id]
        sort_by = query.get("sort_by", "updated_at")
        descending = query.get("sort_order", "desc").lower() != "asc"
        if sort_by == "name":
            branches.sort(key=lambda b: (b.name, b.id), reverse=descending)
        else:
            branches.sort(key=lambda b: (b.created_at, b.id), reverse=descending)
        start = 0
        if query.get("cursor"):
            try:
                start = int(json.loads(base64.b64decode(query["cursor"]))["offset"])
            except (ValueError, KeyError):
                raise _Reply(400, "invalid cursor") from None
        limit = _int(query.get("limit"), 10000, 1, 10000)
        page = branches[start : start + limit]
        next_cursor = base64.b64encode(json.dumps({"offset": start + len(page)}).encode())
        return 200, {
            "branches": [_branch_json(b) for b in page],
            "annotations": {},
            "pagination": {
                "next": next_cursor.decode(),
                "sort_by": sort_by,
                "sort_order": "DESC" if descending else "ASC",
            },
        }

    def _branch_delete(self, meta: _ProjectMeta, branch_id: str) -> tuple[int, Any]:
        pid = meta.project.id
        try:
            branch = self.backend.branch_get(pid, branch_id)
        except EngineNotFound:
            return 204, None
        self._ensure_not_locked(meta)
        endpoints = [e for e in self.backend.endpoint_list(pid) if e.branch_id == branch_id]
        backend_ops = self.backend.branch_delete(pid, branch_id)
        meta.branch_roles.pop(branch_id, None)
        self._wait_backend(pid, backend_ops)
        ops = [
            self._new_op(meta, "suspend_compute", branch_id=branch_id, endpoint_id=e.id)
            for e in endpoints
        ]
        ops.append(self._new_op(meta, "delete_timeline", branch_id=branch_id))
        return 200, {"branch": _branch_json(branch), "operations": ops}

    # -------------------------------------------------------------- snapshots

    def _snapshot_create(
        self, meta: _ProjectMeta, branch_id: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        pid = meta.project.id
        self.backend.branch_get(pid, branch_id)
        args = query  # as Neon (2026): options are query parameters, a JSON body is ignored
        if args.get("lsn") and args.get("timestamp"):
            raise _Reply(400, "invalid request: lsn and timestamp are mutually exclusive")
        existing = self.backend.snapshot_list(pid)
        if args.get("name") and any(s.name == args["name"] for s in existing):
            raise _Reply(409, SNAPSHOT_NAME_TAKEN.format(name=args["name"]))
        used = sum(1 for s in existing if s.manual)
        if self.snapshot_limit is not None and used >= self.snapshot_limit:
            raise _Reply(422, SNAPSHOT_LIMIT_MESSAGE.format(used=used, limit=self.snapshot_limit))
        self._ensure_not_locked(meta)
        created = self.backend.snapshot_create(
            pid,
            branch_id,
            name=args.get("name"),
            expires_at=_parse_dt(args.get("expires_at")),
            lsn=args.get("lsn"),
            timestamp=_parse_dt(args.get("timestamp")),
        )
        self._wait_backend(pid, created.operations)
        ops = [self._new_op(meta, "create_timeline", branch_id=branch_id)]
        return 200, {"snapshot": _snapshot_json(created.snapshot), "operations": ops}

    def _snapshot_delete(self, meta: _ProjectMeta, snapshot_id: str) -> tuple[int, Any]:
        pid = meta.project.id
        snapshot = next((s for s in self.backend.snapshot_list(pid) if s.id == snapshot_id), None)
        if snapshot is None:
            raise _Reply(404, "snapshot not found")
        self._ensure_not_locked(meta)
        self._wait_backend(pid, self.backend.snapshot_delete(pid, snapshot_id))
        op = self._new_op(meta, "delete_timeline", branch_id=snapshot.source_branch_id)
        return 202, {"operations": [op]}

    def _restore(
        self, meta: _ProjectMeta, snapshot_id: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        pid = meta.project.id
        snapshot = next((s for s in self.backend.snapshot_list(pid) if s.id == snapshot_id), None)
        if snapshot is None:
            raise _Reply(404, "snapshot not found")
        target = body.get("target_branch_id") or snapshot.source_branch_id
        if not target:
            raise _Reply(400, "target branch could not be determined")
        self.backend.branch_get(pid, target)
        finalize = bool(body.get("finalize_restore", False))
        self._ensure_not_locked(meta)
        result = self.backend.snapshot_restore(
            pid,
            snapshot_id,
            target_branch_id=target,
            finalize_restore=finalize,
            name=body.get("name") or query.get("name"),
        )
        self._wait_backend(pid, result.operations)
        new = result.branch
        ops = [
            self._new_op(meta, "timeline_unarchive", branch_id=target),
            self._new_op(meta, "create_branch", branch_id=new.id),
        ]
        payload: dict[str, Any] = {"branch": _branch_json(new)}
        if finalize:
            moved = [e for e in self.backend.endpoint_list(pid) if e.branch_id == new.id]
            for endpoint in moved:
                ops.append(
                    self._new_op(meta, "start_compute", branch_id=new.id, endpoint_id=endpoint.id)
                )
            payload["endpoints"] = [_endpoint_json(e) for e in moved]
        payload["operations"] = ops
        return 200, payload

    # ----------------------------------------------------- endpoints and URIs

    def _endpoint_create(self, meta: _ProjectMeta, body: dict[str, Any]) -> tuple[int, Any]:
        spec = body.get("endpoint") or {}
        branch_id = spec.get("branch_id")
        if not branch_id:
            raise _Reply(400, "invalid request: endpoint.branch_id (field required)")
        if spec.get("type", "read_write") != "read_write":
            raise _Reply(400, "only read_write endpoints are emulated")
        pid = meta.project.id
        self.backend.branch_get(pid, branch_id)
        if any(e.branch_id == branch_id for e in self.backend.endpoint_list(pid)):
            raise _Reply(409, "read-write endpoint already exists on the branch")
        self._ensure_not_locked(meta)
        created = self.backend.endpoint_create(pid, branch_id)
        self._wait_backend(pid, created.operations)
        op = self._new_op(
            meta, "start_compute", branch_id=branch_id, endpoint_id=created.endpoint.id
        )
        return 201, {"endpoint": _endpoint_json(created.endpoint), "operations": [op]}

    def _reset_password(self, meta: _ProjectMeta, branch_id: str, role: str) -> tuple[int, Any]:
        branch = self.backend.branch_get(meta.project.id, branch_id)
        if role != meta.role_name:
            raise _Reply(404, f"role {role!r} not found")
        reset = getattr(self.backend, "role_password_reset", None)
        if reset is None:
            raise _Reply(501, "this emulator backend cannot reset passwords")
        password = urlsplit(reset(meta.project.id)).password
        return 200, {"role": {**_role_json(branch, role), "password": password}, "operations": []}

    def _role_create(
        self, meta: _ProjectMeta, branch_id: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        """A role on one branch only. Over a backend that gives each non-default branch a
        login role of its own (the local engine), that role's credentials stand for it."""
        name = ((body or {}).get("role") or {}).get("name")
        if not name:
            raise _Reply(400, "invalid request: role.name is required")
        branch = self.backend.branch_get(meta.project.id, branch_id)
        roles = meta.branch_roles.setdefault(branch_id, set())
        if name == meta.role_name or name in roles:
            raise _Reply(409, f"role {name!r} already exists")
        if branch.default:
            raise _Reply(400, "the emulator creates roles on non-default branches only")
        self._ensure_not_locked(meta)
        roles.add(name)
        password = urlsplit(self.backend.connection_uri(meta.project.id, branch_id=branch_id))
        op = self._new_op(meta, "apply_config", branch_id=branch_id)
        role = {**_role_json(branch, name), "password": unquote(password.password or "")}
        return 201, {"role": role, "operations": [op]}

    def _connection_uri(self, meta: _ProjectMeta, query: dict[str, str]) -> tuple[int, Any]:
        for required in ("database_name", "role_name"):
            if not query.get(required):
                raise _Reply(400, f"invalid request: query parameter {required} is required")
        if query["database_name"] != meta.database_name:
            raise _Reply(404, f"database {query['database_name']!r} not found")
        pid, branch_id, role = meta.project.id, query.get("branch_id"), query["role_name"]
        if branch_id and role in meta.branch_roles.get(branch_id, ()):
            return 200, {"uri": self.backend.connection_uri(pid, branch_id=branch_id)}
        if role != meta.role_name:
            raise _Reply(404, f"role {role!r} not found")
        uri = self.backend.connection_uri(pid, branch_id=branch_id)
        if branch_id and not self.backend.branch_get(pid, branch_id).default:
            # As on Neon: a branch inherits its parent's roles and their passwords.
            uri = _with_credentials(uri, self.backend.connection_uri(pid))
        return 200, {"uri": uri}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "neon-emulator"
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True

    def _any(self) -> None:
        self.server.emulator.handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("emulator: " + format, *args)


# ----------------------------------------------------------------- JSON shapes


def _ts(value: float | datetime, *, ceil: bool = False, micro: bool = False) -> str:
    if isinstance(value, datetime):
        value = value.timestamp()
    if micro:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    seconds = math.ceil(value) if ceil else math.floor(value)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}"


def _error(message: str, request_id: str) -> dict[str, Any]:
    return {"request_id": request_id, "code": "", "message": message}


def _engine_error_status(exc: EngineError) -> int:
    if isinstance(exc, EngineNotFound):
        return 404
    if isinstance(exc, EngineLocked):
        return 423
    if isinstance(exc, EngineInvalidRequest):
        return 409 if "already exists" in exc.message else 400
    if isinstance(exc, EngineNotSupported):
        return 400
    return 500


def _int(value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _Reply(400, f"invalid integer {value!r}") from None
    if not low <= number <= high:
        raise _Reply(400, f"value {number} out of range {low}..{high}")
    return number


def _parse_dt(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Reply(400, f"invalid timestamp {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _project_json(meta: _ProjectMeta) -> dict[str, Any]:
    p = meta.project
    created = _ts(p.created_at)
    body = {
        "data_storage_bytes_hour": 0,
        "data_transfer_bytes": 0,
        "written_data_bytes": 0,
        "compute_time_seconds": 0,
        "active_time_seconds": 0,
        "cpu_used_sec": 0,
        "id": p.id,
        "platform_id": "aws",
        "region_id": REGION,
        "name": p.name,
        "provisioner": "k8s-neonvm",
        "default_endpoint_settings": {
            "autoscaling_limit_min_cu": 0.25,
            "autoscaling_limit_max_cu": 0.25,
            "suspend_timeout_seconds": 0,
        },
        "pg_version": 17,
        "proxy_host": "us-east-2.aws.neon.tech",
        "branch_logical_size_limit": 512,
        "branch_logical_size_limit_bytes": 536870912,
        "store_passwords": True,
        "creation_source": "console",
        "history_retention_seconds": 86400,
        "created_at": created,
        "updated_at": created,
        "consumption_period_start": "0001-01-01T00:00:00Z",
        "consumption_period_end": "0001-01-01T00:00:00Z",
        "owner_id": "00000000-0000-4000-8000-000000000000",
    }
    if meta.org_id:
        body["org_id"] = meta.org_id
    return body


def _branch_json(b: Branch) -> dict[str, Any]:
    created = _ts(b.created_at)
    body: dict[str, Any] = {
        "id": b.id,
        "project_id": b.project_id,
        "name": b.name,
        "current_state": b.current_state or "ready",
        "state_changed_at": created,
        "creation_source": "console",
        "primary": b.default,
        "default": b.default,
        "protected": False,
        "cpu_used_sec": 0,
        "compute_time_seconds": 0,
        "active_time_seconds": 0,
        "written_data_bytes": 0,
        "data_transfer_bytes": 0,
        "created_at": created,
        "updated_at": created,
        "init_source": "parent-data",
    }
    if b.parent_id:
        body["parent_id"] = b.parent_id
    if b.logical_size is not None:
        body["logical_size"] = b.logical_size
    for key in ("restore_status", "restored_from", "restored_as"):
        if getattr(b, key):
            body[key] = getattr(b, key)
    return body


def _endpoint_json(e: Endpoint) -> dict[str, Any]:
    return {
        "host": e.host,
        "id": e.id,
        "project_id": e.project_id,
        "branch_id": e.branch_id,
        "autoscaling_limit_min_cu": 0.25,
        "autoscaling_limit_max_cu": 0.25,
        "region_id": REGION,
        "type": e.type,
        "current_state": e.current_state
        if e.current_state in ("init", "active", "idle")
        else "active",
        "settings": {"pg_settings": {}},
        "pooler_enabled": False,
        "pooler_mode": "transaction",
        "disabled": False,
        "passwordless_access": True,
        "creation_source": "console",
        "created_at": _ts(time.time()),
        "updated_at": _ts(time.time()),
        "proxy_host": "us-east-2.aws.neon.tech",
        "suspend_timeout_seconds": 0,
        "provisioner": "k8s-neonvm",
    }


def _snapshot_json(s: Snapshot) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": s.id,
        "name": s.name,
        "created_at": _ts(s.created_at),
        "manual": s.manual,
    }
    if s.source_branch_id:
        body["source_branch_id"] = s.source_branch_id
    if s.expires_at:
        # Kept to the microsecond: an expiry rounded either way would fire early or late.
        body["expires_at"] = s.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if s.lsn:
        body["lsn"] = s.lsn
    if s.timestamp:
        body["timestamp"] = _ts(s.timestamp)
    if s.full_size is not None:
        body["full_size"] = s.full_size
    return body


def _role_json(branch: Branch, role: str) -> dict[str, Any]:
    created = _ts(branch.created_at)
    return {
        "branch_id": branch.id,
        "name": role,
        "protected": False,
        "created_at": created,
        "updated_at": created,
    }


def _database_json(meta: _ProjectMeta, branch: Branch) -> dict[str, Any]:
    created = _ts(branch.created_at)
    return {
        "id": abs(hash(branch.id)) % 10**8,
        "branch_id": branch.id,
        "name": meta.database_name,
        "owner_name": meta.role_name,
        "created_at": created,
        "updated_at": created,
    }


def _with_credentials(uri: str, source: str) -> str:
    """`uri` with the user and password of `source`."""
    parts, creds = urlsplit(uri), urlsplit(source)
    netloc = creds.netloc.rsplit("@", 1)[0] + "@" + parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc))


def _connection_details(uri: str, database: str, role: str) -> dict[str, Any]:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    return {
        "connection_uri": uri,
        "connection_parameters": {
            "database": (parts.path or "/").lstrip("/") or database,
            "password": unquote(parts.password or ""),
            "role": unquote(parts.username or role),
            "host": host,
            "pooler_host": host,
        },
    }
