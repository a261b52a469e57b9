"""From (method, path) to the handler of the emulated resource."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from .model import (
    _ProjectMeta,
    _Reply,
)
from .shapes import (
    _branch_json,
    _database_json,
    _endpoint_json,
    _project_json,
    _role_json,
    _snapshot_json,
)


class _Routes:
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
        for table in (self._branch_routes, self._project_routes):
            answer = table(route, meta, rest, query, body)
            if answer is not None:
                return answer
        raise _Reply(404, f"{method} {path} is not emulated")

    def _branch_routes(
        self,
        route: tuple[str, ...],
        meta: _ProjectMeta,
        rest: list[str],
        query: dict[str, str],
        body: Any,
    ) -> tuple[int, Any] | None:
        """The project itself and its branches."""
        pid = meta.project.id
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
            case ("POST", "branches", "*", "finalize_restore"):
                return self._finalize_restore(meta, rest[1], body or {})
            case ("POST", "branches", "*", "snapshot"):
                return self._snapshot_create(meta, rest[1], query, body or {})
            case ("GET", "branches", "*", "endpoints"):
                self.backend.branch_get(pid, rest[1])
                endpoints = [e for e in self.backend.endpoint_list(pid) if e.branch_id == rest[1]]
                return 200, {"endpoints": [_endpoint_json(e) for e in endpoints]}
            case ("GET", "branches", "*", "databases"):
                branch = self.backend.branch_get(pid, rest[1])
                return 200, {"databases": [_database_json(meta, branch)]}
        return None

    def _project_routes(
        self,
        route: tuple[str, ...],
        meta: _ProjectMeta,
        rest: list[str],
        query: dict[str, str],
        body: Any,
    ) -> tuple[int, Any] | None:
        """Snapshots, operations, endpoints, connection URIs and roles."""
        pid = meta.project.id
        match route:
            case ("GET", "snapshots"):
                snaps = self.backend.snapshot_list(pid)
                return 200, {"snapshots": [_snapshot_json(s) for s in snaps]}
            case ("PATCH", "snapshots", "*"):
                return self._snapshot_rename(meta, rest[1], body or {})
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
        return None
