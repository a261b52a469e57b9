"""The Neon engine: an httpx client for the subset of Neon API v2 that versions need.

One `httpx.Client`, one request choke point (`_request`) that retries what is safe to retry
and turns every other non-2xx answer into the typed errors of `errors.py`, and JSON parsed
into the frozen dataclasses of `base.py` at the boundary. See shared/neon-api/REFERENCE.md.

Retries (REFERENCE.md §2.2-2.4):

- 423 (project locked by a running operation), 429 (rate limited; `Retry-After` honoured),
  503 and connection failures before anything was sent: nothing was applied, so any method
  is retried, with jittered exponential backoff and a cap.
- 502/504/524 and connections dropped after the request was sent: retried blindly only for
  GET, PATCH and DELETE (which are idempotent here). A POST may have been applied, so it is
  never repeated blindly: the engine first looks for what the POST would have made (the
  snapshot, the restored branch, the endpoint, the project) and adopts it when found.

The API key and connection passwords never appear in logs, errors or reprs.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from .base import (
    BUSY_STATUSES,
    FAILED,
    ROOT_BRANCH_NAME,
    Branch,
    Endpoint,
    EndpointCreated,
    Engine,
    Operation,
    Project,
    ProjectCreated,
    RestoreResult,
    Snapshot,
    SnapshotCreated,
    mask_password,
)
from .errors import (
    EngineError,
    EngineInvalidRequest,
    EngineLocked,
    EngineNotFound,
    EngineRefused,
    EngineTransientError,
)

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://console.neon.tech/api/v2"
USER_AGENT = "checkpoints/0.1"
DOCS = "https://api-docs.neon.tech/reference"
DEFAULT_DATABASE = "neondb"
DEFAULT_ROLE = "neondb_owner"
#: Manual snapshots per project on Neon's paid plans in 2026 (Free: 1). A plan setting:
#: set NEON_SNAPSHOT_LIMIT to your plan's; 0 means "do not check before snapshotting".
DEFAULT_SNAPSHOT_LIMIT = 100

#: Statuses after which nothing was applied: safe to retry any method.
_RETRY_ANY_METHOD = frozenset({423, 429, 503})
#: Gateway failures: the request may have been applied.
_RETRY_IDEMPOTENT = frozenset({502, 504, 524})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PATCH", "DELETE", "PUT"})
_INVALID_STATUSES = frozenset({400, 409, 412, 422})
#: 4xx answers to a creation that say nothing about the account's room for it.
_NOT_REFUSALS = frozenset({401, 404, 423, 429})


class AmbiguousRequestError(EngineTransientError):
    """A POST whose outcome is unknown: it may or may not have been applied."""


class NeonEngine(Engine):
    """Neon API v2 behind the `Engine` interface. Use as a context manager or `close()` it."""

    name = "neon"
    supports_point_in_time = True

    def __init__(
        self,
        api_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        org_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout | None = None,
        max_attempts: int = 8,
        backoff_initial: float = 0.25,
        backoff_max: float = 5.0,
        max_retry_after: float = 60.0,
        ambiguous_rounds: int = 3,
        operations_page_size: int = 50,
        database_name: str = DEFAULT_DATABASE,
        role_name: str = DEFAULT_ROLE,
        region_id: str | None = None,
        clock_skew: timedelta = timedelta(seconds=60),
        rng: Callable[[], float] = random.random,
        snapshot_limit: int | None = DEFAULT_SNAPSHOT_LIMIT,
    ) -> None:
        if not api_key:
            raise ValueError("a Neon API key is required")
        self.api_url = api_url.rstrip("/")
        self.org_id = org_id or None
        self.max_attempts = max(1, max_attempts)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.ambiguous_rounds = max(1, ambiguous_rounds)
        self.operations_page_size = operations_page_size
        self.database_name = database_name
        self.role_name = role_name
        self.region_id = region_id
        self.clock_skew = clock_skew
        self.snapshot_limit = snapshot_limit or None
        self._sleep = sleep
        self._rng = rng
        self._lock = threading.Lock()
        #: HTTP requests sent (every attempt counts): a cheap way to watch API usage.
        self.request_count = 0
        # project id -> (database name, role name), learned at creation or looked up once.
        self._conn_params: dict[str, tuple[str, str]] = {}
        self._client = httpx.Client(
            base_url=self.api_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=timeout or httpx.Timeout(30.0, connect=5.0, pool=10.0),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, **kwargs: Any) -> NeonEngine:
        """Build the engine from Django settings NEON_API_KEY, NEON_API_URL, NEON_ORG_ID,
        NEON_SNAPSHOT_LIMIT (the plan's manual snapshots per project; default 100)."""
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        api_key = getattr(settings, "NEON_API_KEY", "")
        if not api_key:
            raise ImproperlyConfigured(
                "NEON_API_KEY is not set: the neon engine needs a Neon API key "
                "(or set CHECKPOINTS_ENGINE=local)."
            )
        return cls(
            api_key,
            api_url=getattr(settings, "NEON_API_URL", "") or DEFAULT_API_URL,
            org_id=getattr(settings, "NEON_ORG_ID", "") or None,
            snapshot_limit=int(getattr(settings, "NEON_SNAPSHOT_LIMIT", DEFAULT_SNAPSHOT_LIMIT)),
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"NeonEngine(api_url={self.api_url!r}, org_id={self.org_id!r})"

    def close(self) -> None:
        self._client.close()

    # ---------------------------------------------------------------- projects

    def project_create(self, *, name: str) -> ProjectCreated:
        """Create a project with root branch `main` and its read-write endpoint.

        More info: https://api-docs.neon.tech/reference/createproject"""
        project: dict[str, Any] = {
            "name": name,
            "branch": {
                "name": ROOT_BRANCH_NAME,
                "database_name": self.database_name,
                "role_name": self.role_name,
            },
        }
        if self.org_id:
            project["org_id"] = self.org_id
        if self.region_id:
            project["region_id"] = self.region_id

        def parse(body: dict[str, Any]) -> ProjectCreated:
            created = ProjectCreated(
                project=_project(body["project"]),
                branch=_branch(body["branch"]),
                endpoint=_endpoint(_read_write(body["endpoints"])),
                operations=_operations(body.get("operations", [])),
            )
            self._remember_conn_params(created.project.id, body)
            return created

        return self._post(
            "/projects",
            json={"project": project},
            parse=parse,
            recover=lambda since: self._recover_project(name, since),
        )

    def project_get(self, project_id: str) -> Project:
        """More info: https://api-docs.neon.tech/reference/getproject"""
        body = self._json("GET", f"/projects/{_seg(project_id)}")
        return _parse(_project, body, "project")

    def project_delete(self, project_id: str) -> None:
        """Delete the project; an already deleted one (after a retry) is fine.

        More info: https://api-docs.neon.tech/reference/deleteproject"""
        self._request("DELETE", f"/projects/{_seg(project_id)}", gone_ok_after_retry=True)
        self._conn_params.pop(project_id, None)

    # ---------------------------------------------------------------- branches

    def branch_list(self, project_id: str) -> list[Branch]:
        """Every branch, following the cursor.

        More info: https://api-docs.neon.tech/reference/listprojectbranches"""
        branches: list[Branch] = []
        seen: set[str] = set()
        params: dict[str, Any] = {"limit": 1000, "sort_by": "created_at", "sort_order": "asc"}
        while True:
            body = self._json("GET", f"/projects/{_seg(project_id)}/branches", params=params)
            page = [_parse(_branch, raw) for raw in body.get("branches", [])]
            fresh = [b for b in page if b.id not in seen]
            branches.extend(fresh)
            seen.update(b.id for b in fresh)
            cursor = (body.get("pagination") or {}).get("next")
            # Neon sends `next` even on the last page: stop on a short or empty page.
            if not fresh or not cursor or len(page) < params["limit"]:
                return branches
            params = {**params, "cursor": cursor}

    def branch_get(self, project_id: str, branch_id: str) -> Branch:
        """More info: https://api-docs.neon.tech/reference/getprojectbranch"""
        body = self._json("GET", f"/projects/{_seg(project_id)}/branches/{_seg(branch_id)}")
        return _parse(_branch, body, "branch")

    def branch_rename(self, project_id: str, branch_id: str, name: str) -> Branch:
        """More info: https://api-docs.neon.tech/reference/updateprojectbranch"""
        body = self._json(
            "PATCH",
            f"/projects/{_seg(project_id)}/branches/{_seg(branch_id)}",
            json={"branch": {"name": name}},
        )
        return _parse(_branch, body, "branch")

    def branch_delete(self, project_id: str, branch_id: str) -> list[Operation]:
        """Neon answers 204 for a branch that is already gone: no operations then.

        More info: https://api-docs.neon.tech/reference/deleteprojectbranch"""
        response = self._request(
            "DELETE",
            f"/projects/{_seg(project_id)}/branches/{_seg(branch_id)}",
            gone_ok_after_retry=True,
        )
        if response is None or response.status_code == 204 or not response.content:
            return []
        return _parse(_operations, _body(response), "operations")

    # --------------------------------------------------------------- snapshots

    def snapshot_create(
        self,
        project_id: str,
        branch_id: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
        lsn: str | None = None,
        timestamp: datetime | None = None,
    ) -> SnapshotCreated:
        """Snapshot a root branch, at its head or at `lsn` / `timestamp`.

        The options go in the query string: Neon ignores a JSON body here. A 4xx answer
        (the plan's snapshot limit, a quota, a name already taken…) is `EngineRefused`:
        nothing was made. More info: https://api-docs.neon.tech/reference/createsnapshot"""
        if lsn and timestamp:
            raise EngineInvalidRequest("a snapshot takes `lsn` or `timestamp`, not both")
        params: dict[str, str] = {}
        if name is not None:
            params["name"] = name
        if expires_at is not None:
            params["expires_at"] = _format_dt(expires_at)
        if lsn is not None:
            params["lsn"] = lsn
        if timestamp is not None:
            params["timestamp"] = _format_dt(timestamp)

        def parse(body: dict[str, Any]) -> SnapshotCreated:
            return SnapshotCreated(
                snapshot=_snapshot(body["snapshot"]),
                operations=_operations(body.get("operations", [])),
            )

        def recover(since: datetime) -> SnapshotCreated | None:
            candidates = [
                s
                for s in self.snapshot_list(project_id)
                if s.created_at >= since
                and (name is None or s.name == name)
                and s.source_branch_id in (None, branch_id)
            ]
            if not candidates:
                return None
            snapshot = max(candidates, key=lambda s: s.created_at)
            return SnapshotCreated(snapshot, self._busy_operations(project_id, branch_id))

        try:
            return self._post(
                f"/projects/{_seg(project_id)}/branches/{_seg(branch_id)}/snapshot",
                params=params,
                parse=parse,
                recover=recover,
            )
        except EngineError as exc:
            if exc.status is None or not 400 <= exc.status < 500 or exc.status in _NOT_REFUSALS:
                raise
            raise EngineRefused(
                exc.message,
                reason=_refusal_reason(exc.message),
                status=exc.status,
                code=exc.code,
                request_id=exc.request_id,
            ) from exc

    def snapshot_list(self, project_id: str) -> list[Snapshot]:
        """More info: https://api-docs.neon.tech/reference/listsnapshots"""
        body = self._json("GET", f"/projects/{_seg(project_id)}/snapshots")
        return [_parse(_snapshot, raw) for raw in body.get("snapshots", [])]

    def snapshot_rename(self, project_id: str, snapshot_id: str, name: str) -> Snapshot:
        """More info: https://api-docs.neon.tech/reference/updatesnapshot"""
        body = self._json(
            "PATCH",
            f"/projects/{_seg(project_id)}/snapshots/{_seg(snapshot_id)}",
            json={"snapshot": {"name": name}},
        )
        return _parse(_snapshot, body, "snapshot")

    def snapshot_delete(self, project_id: str, snapshot_id: str) -> list[Operation]:
        """More info: https://api-docs.neon.tech/reference/deletesnapshot"""
        response = self._request(
            "DELETE",
            f"/projects/{_seg(project_id)}/snapshots/{_seg(snapshot_id)}",
            gone_ok_after_retry=True,
        )
        if response is None or not response.content:
            return []
        return _parse(_operations, _body(response), "operations")

    def snapshot_restore(
        self,
        project_id: str,
        snapshot_id: str,
        *,
        target_branch_id: str | None = None,
        finalize_restore: bool = False,
        name: str | None = None,
    ) -> RestoreResult:
        """Restore a snapshot into a new branch (and, finalized, move the target's endpoint).

        The new branch id comes from the response, never from a name search.
        More info: https://api-docs.neon.tech/reference/restoresnapshot"""
        payload: dict[str, Any] = {"finalize_restore": finalize_restore}
        if target_branch_id is not None:
            payload["target_branch_id"] = target_branch_id
        if name is not None:
            payload["name"] = name

        def result(branch: Branch, operations: list[Operation]) -> RestoreResult:
            orphan = None
            if finalize_restore:
                orphan = target_branch_id or branch.restored_as
            return RestoreResult(branch=branch, operations=operations, orphan_branch_id=orphan)

        def parse(body: dict[str, Any]) -> RestoreResult:
            return result(_branch(body["branch"]), _operations(body.get("operations", [])))

        def recover(since: datetime) -> RestoreResult | None:
            candidates = [
                b
                for b in self.branch_list(project_id)
                if b.restored_from == snapshot_id
                and b.created_at >= since
                and (target_branch_id is None or b.restored_as == target_branch_id)
                and (name is None or finalize_restore or b.name == name)
            ]
            if not candidates:
                return None
            branch = max(candidates, key=lambda b: b.created_at)
            return result(branch, self._busy_operations(project_id))

        return self._post(
            f"/projects/{_seg(project_id)}/snapshots/{_seg(snapshot_id)}/restore",
            json=payload,
            parse=parse,
            recover=recover,
        )

    def snapshots_delete_expired(self, project_id: str) -> list[str]:
        """Delete snapshots whose `expires_at` has passed (Neon also does so on its own)."""
        now = datetime.now(UTC)
        deleted = []
        for snapshot in self.snapshot_list(project_id):
            if snapshot.expires_at is not None and snapshot.expires_at <= now:
                try:
                    self.snapshot_delete(project_id, snapshot.id)
                except EngineNotFound:
                    pass
                deleted.append(snapshot.id)
        return deleted

    # ----------------------------------------------------- endpoints, connections

    def endpoint_create(self, project_id: str, branch_id: str) -> EndpointCreated:
        """A read-write endpoint for a branch (Neon allows one per branch).

        More info: https://api-docs.neon.tech/reference/createprojectendpoint"""

        def parse(body: dict[str, Any]) -> EndpointCreated:
            return EndpointCreated(
                endpoint=_endpoint(body["endpoint"]),
                operations=_operations(body.get("operations", [])),
            )

        def recover(since: datetime) -> EndpointCreated | None:
            body = self._json(
                "GET", f"/projects/{_seg(project_id)}/branches/{_seg(branch_id)}/endpoints"
            )
            for raw in body.get("endpoints", []):
                if raw.get("type") == "read_write":
                    endpoint = _parse(_endpoint, raw)
                    return EndpointCreated(endpoint, self._busy_operations(project_id, branch_id))
            return None

        return self._post(
            f"/projects/{_seg(project_id)}/endpoints",
            json={"endpoint": {"branch_id": branch_id, "type": "read_write"}},
            parse=parse,
            recover=recover,
        )

    def endpoint_list(self, project_id: str) -> list[Endpoint]:
        """More info: https://api-docs.neon.tech/reference/listprojectendpoints"""
        body = self._json("GET", f"/projects/{_seg(project_id)}/endpoints")
        return [_parse(_endpoint, raw) for raw in body.get("endpoints", [])]

    def connection_uri(self, project_id: str, *, branch_id: str | None = None) -> str:
        """The branch's read-write endpoint URI (default: the project's default branch).

        Database and role names come from project creation, or are the ones this engine
        gives every project it creates; only if Neon does not know them are they looked up
        (once per project). It carries a password: never log it. More info:
        https://api-docs.neon.tech/reference/getconnectionuri"""
        cached = self._conn_params.get(project_id)
        names = cached or (self.database_name, self.role_name)
        try:
            return self._connection_uri(project_id, branch_id, names)
        except (EngineNotFound, EngineInvalidRequest):
            if cached:
                raise
            looked_up = self._lookup_connection_names(project_id, branch_id)
            if looked_up == names:
                raise
            return self._connection_uri(project_id, branch_id, looked_up)

    def _connection_uri(
        self, project_id: str, branch_id: str | None, names: tuple[str, str]
    ) -> str:
        params = {"database_name": names[0], "role_name": names[1]}
        if branch_id is not None:
            params["branch_id"] = branch_id
        body = self._json("GET", f"/projects/{_seg(project_id)}/connection_uri", params=params)
        uri = body.get("uri")
        if not isinstance(uri, str) or not uri:
            raise EngineError("Neon API returned no connection URI")
        self._conn_params.setdefault(project_id, names)
        return uri

    def role_password_reset(self, project_id: str) -> str:
        """Reset the default branch's role password; connections to the endpoint drop.
        More info: https://api-docs.neon.tech/reference/resetprojectbranchrolepassword"""
        from .operations import wait_for_operations

        branch = next((b for b in self.branch_list(project_id) if b.default), None)
        if branch is None:
            raise EngineNotFound(f"project {project_id} has no default branch")
        role = self._conn_params.get(project_id, (self.database_name, self.role_name))[1]
        body = self._json(
            "POST",
            f"/projects/{_seg(project_id)}/branches/{_seg(branch.id)}/roles/{_seg(role)}"
            "/reset_password",
        )
        wait_for_operations(self, project_id, _operations(body.get("operations") or []))
        return self.connection_uri(project_id)

    # -------------------------------------------------------------- operations

    def operation_get(self, project_id: str, operation_id: str) -> Operation:
        """More info: https://api-docs.neon.tech/reference/getprojectoperation"""
        body = self._json("GET", f"/projects/{_seg(project_id)}/operations/{_seg(operation_id)}")
        return _parse(_operation, body, "operation")

    def operations_get(self, project_id: str, operation_ids: list[str]) -> list[Operation]:
        """Several operations in one call: the newest page of the project's operations,
        then a GET per id the page did not hold.

        More info: https://api-docs.neon.tech/reference/listprojectoperations"""
        ids = list(dict.fromkeys(operation_ids))
        if len(ids) <= 1:
            return [self.operation_get(project_id, op_id) for op_id in ids]
        wanted = set(ids)
        found = {
            op.id: op
            for op in self._recent_operations(project_id, max(self.operations_page_size, len(ids)))
            if op.id in wanted
        }
        return [found.get(op_id) or self.operation_get(project_id, op_id) for op_id in ids]

    def _recent_operations(self, project_id: str, limit: int) -> list[Operation]:
        body = self._json(
            "GET",
            f"/projects/{_seg(project_id)}/operations",
            params={"limit": min(1000, max(1, limit))},
        )
        return [_parse(_operation, raw) for raw in body.get("operations", [])]

    def _busy_operations(self, project_id: str, branch_id: str | None = None) -> list[Operation]:
        """Operations of the project (or branch) still to wait for: used after recovery."""
        return [
            op
            for op in self._recent_operations(project_id, self.operations_page_size)
            if (op.status in BUSY_STATUSES or op.status == FAILED)
            and (branch_id is None or op.branch_id in (None, branch_id))
        ]

    # ---------------------------------------------------------- connection names

    def _remember_conn_params(self, project_id: str, body: dict[str, Any]) -> None:
        databases = body.get("databases") or []
        if databases and databases[0].get("name") and databases[0].get("owner_name"):
            self._conn_params[project_id] = (databases[0]["name"], databases[0]["owner_name"])
        else:
            self._conn_params[project_id] = (self.database_name, self.role_name)

    def _lookup_connection_names(self, project_id: str, branch_id: str | None) -> tuple[str, str]:
        if branch_id is None:
            default = [b for b in self.branch_list(project_id) if b.default]
            if not default:
                raise EngineNotFound(f"project {project_id} has no default branch")
            branch_id = default[0].id
        body = self._json(
            "GET", f"/projects/{_seg(project_id)}/branches/{_seg(branch_id)}/databases"
        )
        databases = body.get("databases") or []
        if not databases:
            raise EngineNotFound(f"branch {branch_id} has no database")
        chosen = next((d for d in databases if d.get("name") == self.database_name), databases[0])
        names = (str(chosen["name"]), str(chosen["owner_name"]))
        self._conn_params[project_id] = names
        return names

    # ---------------------------------------------------------- project recovery

    def _recover_project(self, name: str, since: datetime) -> ProjectCreated | None:
        params: dict[str, Any] = {"search": name, "limit": 100}
        if self.org_id:
            params["org_id"] = self.org_id
        body = self._json("GET", "/projects", params=params)
        candidates = [
            _parse(_project, raw) for raw in body.get("projects", []) if raw.get("name") == name
        ]
        candidates = [p for p in candidates if p.created_at >= since]
        if not candidates:
            return None
        project = max(candidates, key=lambda p: p.created_at)
        branches = [b for b in self.branch_list(project.id) if b.default]
        endpoints = [e for e in self.endpoint_list(project.id) if e.type == "read_write"]
        if not branches or not endpoints:
            return None
        branch = branches[0]
        endpoint = next((e for e in endpoints if e.branch_id == branch.id), endpoints[0])
        return ProjectCreated(project, branch, endpoint, self._busy_operations(project.id))

    # ------------------------------------------------------------ the choke point

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, **kwargs)
        assert response is not None
        return _body(response)

    def _post[T](
        self,
        path: str,
        *,
        parse: Callable[[dict[str, Any]], T],
        recover: Callable[[datetime], T | None],
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> T:
        """POST at most once per round: after an ambiguous failure, look for the result
        (`recover`) before sending it again."""
        since = datetime.now(UTC) - self.clock_skew
        last: AmbiguousRequestError | None = None
        for round_ in range(self.ambiguous_rounds):
            if round_:
                self._sleep(self._backoff(round_))
            try:
                response = self._request("POST", path, json=json, params=params)
            except AmbiguousRequestError as exc:
                last = exc
                logger.warning(
                    "neon POST %s: outcome unknown (%s); checking whether it was applied",
                    path,
                    exc.message,
                )
                found = recover(since)
                if found is not None:
                    logger.info("neon POST %s had been applied; using its result", path)
                    return found
                continue
            assert response is not None
            return _parse(parse, _body(response))
        assert last is not None
        raise EngineTransientError(
            f"POST {path} failed {self.ambiguous_rounds} times without an answer: {last.message}",
            status=last.status,
            code=last.code,
            request_id=last.request_id,
        ) from last

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        gone_ok_after_retry: bool = False,
    ) -> httpx.Response | None:
        """Send one request, retrying what is safe; raise typed errors for the rest.

        Returns None only for a DELETE that answered 404 after an earlier attempt may
        already have deleted the resource (`gone_ok_after_retry`)."""
        idempotent = method in _IDEMPOTENT_METHODS
        maybe_applied = False
        attempt = 0
        while True:
            attempt += 1
            request_id = str(uuid.uuid4())
            started = time.monotonic()
            with self._lock:
                self.request_count += 1
            try:
                response = self._client.request(
                    method, path, params=params, json=json, headers={"X-Request-ID": request_id}
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached the server: safe to retry any method.
                error = EngineTransientError(
                    f"cannot reach the Neon API ({type(exc).__name__}) for {method} {path}",
                    request_id=request_id,
                )
                self._retry_or_raise(error, attempt, None, exc)
                continue
            except httpx.TransportError as exc:
                text = f"no answer from the Neon API ({type(exc).__name__}) for {method} {path}"
                if not idempotent:
                    raise AmbiguousRequestError(text, request_id=request_id) from exc
                maybe_applied = True
                self._retry_or_raise(
                    EngineTransientError(text, request_id=request_id), attempt, None, exc
                )
                continue
            elapsed_ms = (time.monotonic() - started) * 1000
            status = response.status_code
            logger.debug(
                "neon %s %s -> %s in %.0f ms (request id %s, attempt %s)",
                method,
                path,
                status,
                elapsed_ms,
                _response_request_id(response) or request_id,
                attempt,
            )
            if status < 300:
                return response
            if status == 404 and gone_ok_after_retry and maybe_applied:
                return None
            error = _error_from_response(method, path, response, request_id)
            if status in _RETRY_ANY_METHOD:
                self._retry_or_raise(error, attempt, response, None)
                continue
            if status in _RETRY_IDEMPOTENT or status >= 500:
                if not idempotent:
                    raise AmbiguousRequestError(
                        error.message, status=status, code=error.code, request_id=error.request_id
                    )
                if status in _RETRY_IDEMPOTENT:
                    maybe_applied = True
                    self._retry_or_raise(error, attempt, response, None)
                    continue
            raise error

    def _retry_or_raise(
        self,
        error: EngineError,
        attempt: int,
        response: httpx.Response | None,
        cause: BaseException | None,
    ) -> None:
        delay = self._backoff(attempt)
        if response is not None:
            hinted = _retry_after(response)
            if hinted is not None:
                if hinted > self.max_retry_after:
                    raise error from cause
                delay = hinted
        if attempt >= self.max_attempts:
            raise error from cause
        logger.info(
            "neon: %s; retrying in %.2fs (attempt %s of %s)",
            error,
            delay,
            attempt + 1,
            self.max_attempts,
        )
        self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, capped."""
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** (attempt - 1)))
        return ceiling / 2 + self._rng() * ceiling / 2


# ---------------------------------------------------------------------- errors


def _error_from_response(
    method: str, path: str, response: httpx.Response, request_id: str
) -> EngineError:
    status = response.status_code
    code: str | None = None
    message = ""
    body_request_id = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or "")
        code = body.get("code") or None
        body_request_id = body.get("request_id") or None
    if not message:
        message = response.reason_phrase or "error"
    text = mask_password(f"Neon API {status} on {method} {path}: {message}")
    rid = body_request_id or _response_request_id(response) or request_id
    if status == 404:
        cls: type[EngineError] = EngineNotFound
    elif status == 423:
        cls = EngineLocked
    elif status in _INVALID_STATUSES:
        cls = EngineInvalidRequest
    elif status == 429 or status >= 500:
        cls = EngineTransientError
    else:
        cls = EngineError
    return cls(text, status=status, code=code, request_id=rid)


def _refusal_reason(message: str) -> str:
    """Neon's error `code` is empty in practice: its message says why (REFERENCE.md §2.1)."""
    text = message.lower()
    if "limit" in text:
        return "limit"
    if "quota" in text:
        return "quota"
    if "already exists" in text or "unique" in text:
        return "name"
    return "refused"


def _response_request_id(response: httpx.Response) -> str | None:
    return response.headers.get("x-neon-ret-request-id") or response.headers.get("x-request-id")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# --------------------------------------------------------------------- parsing


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise EngineError(
            f"Neon API answered {response.status_code} with a body that is not JSON",
            status=response.status_code,
        ) from exc
    if not isinstance(body, dict):
        raise EngineError("Neon API answered with an unexpected JSON body")
    return body


def _parse[T](parser: Callable[[Any], T], raw: Any, key: str | None = None) -> T:
    try:
        return parser(raw[key] if key is not None else raw)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"{key!r} " if key else ""
        raise EngineError(
            f"Neon API returned an unexpected {what}body: {type(exc).__name__}: {exc}"
        ) from None


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _req_dt(value: Any) -> datetime:
    parsed = _dt(value)
    if parsed is None:
        raise ValueError("missing timestamp")
    return parsed


def _format_dt(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _project(raw: dict[str, Any]) -> Project:
    return Project(
        id=raw["id"],
        name=raw["name"],
        created_at=_req_dt(raw["created_at"]),
        region_id=raw.get("region_id") or "unknown",
    )


def _branch(raw: dict[str, Any]) -> Branch:
    return Branch(
        id=raw["id"],
        project_id=raw["project_id"],
        name=raw["name"],
        created_at=_req_dt(raw["created_at"]),
        parent_id=raw.get("parent_id") or None,
        default=bool(raw.get("default", raw.get("primary", False))),
        current_state=raw.get("current_state") or "ready",
        logical_size=raw.get("logical_size"),
        restore_status=raw.get("restore_status") or None,
        restored_from=raw.get("restored_from") or None,
        restored_as=raw.get("restored_as") or None,
    )


def _snapshot(raw: dict[str, Any]) -> Snapshot:
    return Snapshot(
        id=raw["id"],
        name=raw["name"],
        created_at=_req_dt(raw["created_at"]),
        source_branch_id=raw.get("source_branch_id") or None,
        expires_at=_dt(raw.get("expires_at")),
        lsn=raw.get("lsn") or None,
        timestamp=_dt(raw.get("timestamp")),
        full_size=raw.get("full_size"),
        manual=bool(raw.get("manual", True)),
    )


def _endpoint(raw: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=raw["id"],
        project_id=raw["project_id"],
        branch_id=raw["branch_id"],
        host=raw["host"],
        type=raw.get("type") or "read_write",
        current_state=raw.get("current_state") or "active",
    )


def _operation(raw: dict[str, Any]) -> Operation:
    return Operation(
        id=raw["id"],
        project_id=raw["project_id"],
        action=raw["action"],
        status=raw["status"],
        created_at=_req_dt(raw["created_at"]),
        updated_at=_req_dt(raw["updated_at"]),
        branch_id=raw.get("branch_id") or None,
        endpoint_id=raw.get("endpoint_id") or None,
        error=raw.get("error") or None,
        failures_count=int(raw.get("failures_count") or 0),
        retry_at=_dt(raw.get("retry_at")),
        total_duration_ms=int(raw.get("total_duration_ms") or 0),
    )


def _operations(raw: Iterable[dict[str, Any]]) -> list[Operation]:
    return [_operation(item) for item in raw]


def _read_write(endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    for raw in endpoints:
        if raw.get("type") == "read_write":
            return raw
    if endpoints:
        return endpoints[0]
    raise KeyError("endpoints")
